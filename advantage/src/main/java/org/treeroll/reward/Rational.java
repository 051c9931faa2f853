package org.treeroll.reward;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An exact fraction in lowest terms with a positive denominator, so equal numbers have equal
 * records: 2/4, 0.5 and 1/2 are one value, with no floating-point fuzz.
 */
record Rational(BigInteger numerator, BigInteger denominator) {
  private static final String DECIMAL = "[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)";
  private static final Pattern NUMBER = Pattern.compile(DECIMAL);
  private static final Pattern SLASH = Pattern.compile("(" + DECIMAL + ")/(" + DECIMAL + ")");
  private static final Pattern FRAC = Pattern.compile("([+-]?)\\\\frac\\{(" + DECIMAL + ")\\}\\{(" + DECIMAL + ")\\}");

  Rational {
    if (denominator.signum() == 0) {
      throw new ArithmeticException("denominator is zero");
    }
    if (denominator.signum() < 0) {
      numerator = numerator.negate();
      denominator = denominator.negate();
    }
    BigInteger g = numerator.gcd(denominator);
    if (!g.equals(BigInteger.ONE) && g.signum() != 0) {
      numerator = numerator.divide(g);
      denominator = denominator.divide(g);
    }
  }

  static Rational of(BigDecimal d) {
    return d.scale() <= 0
        ? new Rational(d.toBigIntegerExact(), BigInteger.ONE)
        : new Rational(d.unscaledValue(), BigInteger.TEN.pow(d.scale()));
  }

  Rational divide(Rational o) {
    return new Rational(numerator.multiply(o.denominator), denominator.multiply(o.numerator));
  }

  Rational negate() {
    return new Rational(numerator.negate(), denominator);
  }

  /**
   * Parses a plain decimal ({@code -2.50}, {@code .5}), {@code a/b} or {@code \frac{a}{b}} of
   * decimals, the text already stripped of spaces; empty for anything else or a zero divisor.
   */
  static Optional<Rational> parse(String s) {
    try {
      if (NUMBER.matcher(s).matches()) {
        return Optional.of(of(new BigDecimal(s)));
      }
      Matcher m = SLASH.matcher(s);
      if (m.matches()) {
        return quotient(m.group(1), m.group(2));
      }
      Matcher f = FRAC.matcher(s);
      if (f.matches()) {
        boolean negative = f.group(1).equals("-");
        return quotient(f.group(2), f.group(3)).map(q -> negative ? q.negate() : q);
      }
    } catch (NumberFormatException e) {
      // Only a number too large for BigDecimal's exponent gets here; then it is not a number to us.
    }
    return Optional.empty();
  }

  private static Optional<Rational> quotient(String a, String b) {
    BigDecimal divisor = new BigDecimal(b);
    if (divisor.signum() == 0) {
      return Optional.empty();
    }
    return Optional.of(of(new BigDecimal(a)).divide(of(divisor)));
  }

  /** {@code 3}, {@code -1/2}: one spelling per value. */
  @Override
  public String toString() {
    return denominator.equals(BigInteger.ONE) ? numerator.toString() : numerator + "/" + denominator;
  }
}
