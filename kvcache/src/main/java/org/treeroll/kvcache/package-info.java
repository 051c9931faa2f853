/**
 * KV-cache bookkeeping without tensors: the page pool with reference counts, page tables of
 * sequences, and (next) the radix prefix cache. The engine owns the tensors the page ids index.
 */
package org.treeroll.kvcache;
