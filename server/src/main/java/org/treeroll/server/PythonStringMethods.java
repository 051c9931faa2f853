package org.treeroll.server;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's {@code str} methods (and {@code dict.get} with a default) for chat templates, which
 * call them as Jinja2 allows ({@code message.content.strip()}, {@code .startswith(...)}) while
 * Jinjava only sees Java's methods. Answers method calls only; everything else goes to the
 * resolvers after it.
 */
final class PythonStringMethods extends ELResolver {

  @Override
  public Object invoke(ELContext context, Object base, Object method, Class<?>[] types, Object[] params) {
    Object[] p = params == null ? new Object[0] : params;
    Object out = null;
    if (base instanceof String s) {
      out = string(s, String.valueOf(method), p);
    } else if (base instanceof Map<?, ?> m && "get".equals(method) && p.length == 2) {
      out = m.containsKey(p[0]) ? m.get(p[0]) : p[1];
      context.setPropertyResolved(true);
      return out;
    }
    if (out != null) {
      context.setPropertyResolved(true);
    }
    return out;
  }

  private static Object string(String s, String method, Object[] p) {
    return switch (method) {
      case "strip" -> strip(s, chars(p), true, true);
      case "lstrip" -> strip(s, chars(p), true, false);
      case "rstrip" -> strip(s, chars(p), false, true);
      case "startswith" -> p.length == 1 ? affixes(p[0]).stream().anyMatch(s::startsWith) : null;
      case "endswith" -> p.length == 1 ? affixes(p[0]).stream().anyMatch(s::endsWith) : null;
      case "split" -> split(s, p);
      case "upper" -> p.length == 0 ? s.toUpperCase(Locale.ROOT) : null;
      case "lower" -> p.length == 0 ? s.toLowerCase(Locale.ROOT) : null;
      case "title" -> p.length == 0 ? title(s) : null;
      case "capitalize" -> p.length == 0 && !s.isEmpty()
          ? s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT) : null;
      case "replace" -> p.length == 2 ? s.replace(String.valueOf(p[0]), String.valueOf(p[1])) : null;
      case "find" -> p.length == 1 ? (long) s.indexOf(String.valueOf(p[0])) : null;
      case "count" -> p.length == 1 ? count(s, String.valueOf(p[0])) : null;
      case "join" -> p.length == 1 && p[0] instanceof Collection<?> c
          ? String.join(s, c.stream().map(String::valueOf).toList()) : null;
      default -> null;
    };
  }

  /** The characters to strip, null for whitespace. */
  private static String chars(Object[] p) {
    return p.length == 0 || p[0] == null ? null : String.valueOf(p[0]);
  }

  private static String strip(String s, String chars, boolean left, boolean right) {
    int a = 0;
    int b = s.length();
    while (left && a < b && strips(s.charAt(a), chars)) {
      a++;
    }
    while (right && b > a && strips(s.charAt(b - 1), chars)) {
      b--;
    }
    return s.substring(a, b);
  }

  private static boolean strips(char c, String chars) {
    return chars == null ? Character.isWhitespace(c) : chars.indexOf(c) >= 0;
  }

  /** A prefix or suffix argument: one string or a tuple (list) of them. */
  private static List<String> affixes(Object p) {
    if (p instanceof Collection<?> c) {
      return c.stream().map(String::valueOf).toList();
    }
    return List.of(String.valueOf(p));
  }

  private static List<String> split(String s, Object[] p) {
    if (p.length == 0 || p[0] == null) {
      String t = s.strip();
      return t.isEmpty() ? new ArrayList<>() : new ArrayList<>(Arrays.asList(t.split("\\s+")));
    }
    String sep = String.valueOf(p[0]);
    if (sep.isEmpty()) {
      throw new IllegalArgumentException("empty separator");
    }
    int limit = p.length > 1 && p[1] instanceof Number n && n.intValue() >= 0 ? n.intValue() + 1 : -1;
    return new ArrayList<>(Arrays.asList(s.split(Pattern.quote(sep), limit)));
  }

  private static String title(String s) {
    StringBuilder out = new StringBuilder(s.length());
    boolean start = true;
    for (char c : s.toCharArray()) {
      out.append(start ? Character.toUpperCase(c) : Character.toLowerCase(c));
      start = !Character.isLetter(c);
    }
    return out.toString();
  }

  private static long count(String s, String sub) {
    if (sub.isEmpty()) {
      return s.length() + 1;
    }
    long n = 0;
    for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
      n++;
    }
    return n;
  }

  // Not a property resolver: every lookup goes on to the next resolver.

  @Override
  public Object getValue(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public Class<?> getType(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public void setValue(ELContext context, Object base, Object property, Object value) {}

  @Override
  public boolean isReadOnly(ELContext context, Object base, Object property) {
    return true;
  }

  @Override
  public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
    return null;
  }

  @Override
  public Class<?> getCommonPropertyType(ELContext context, Object base) {
    return null;
  }
}
