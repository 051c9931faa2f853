/**
 * Benchmarks that print numbers: decode throughput against the machine's limits, trees against
 * independent sampling, prefix sharing at admission. Never timing assertions in tests.
 */
package org.treeroll.engine.bench;
