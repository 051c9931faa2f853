/**
 * The engine's one owner of mutable state. {@link org.treeroll.engine.scheduler.Scheduler} runs on
 * a single Vert.x worker thread; it alone touches the KV pages, page tables and the radix prefix
 * cache. Everything else sends it a message and gets a future. Its parts, each readable alone:
 * queue and admission ({@code Admission}), memory ({@code KvMemory}: resume and prefill, cache
 * reuse and locks, suspension), tree growth ({@code TreeGrowth}: sampling steps, stop rules,
 * segment boundaries, refills), teacher-forced scoring ({@code ScoreJob}) and weight swaps
 * ({@code WeightSwap}).
 */
package org.treeroll.engine.scheduler;
