package org.treeroll.engine.scheduler;

/**
 * One forward step as the scheduler ran it, for telemetry and benchmarks.
 *
 * @param decode whether every row fed one sampled token (a decode step) rather than prompt or
 *     recomputed path tokens (a prefill step)
 * @param rows sequences in the step
 * @param tokens tokens fed
 * @param nanos time of the forward pass and the next-token distributions
 */
public record StepTiming(boolean decode, int rows, int tokens, long nanos) {}
