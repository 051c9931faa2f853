/**
 * KV-cache bookkeeping without tensors: the page pool with reference counts, page tables of
 * sequences, and the radix prefix cache. The engine owns the tensors the page ids index; its
 * scheduler thread alone touches these structures.
 */
package org.treeroll.kvcache;
