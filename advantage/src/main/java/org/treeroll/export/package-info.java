/**
 * Writing advantages out for a trainer: one row per answer (leaf path), as JSON lines or Parquet,
 * with the column names of verl's DataProto, or as verl's padded tensors in compressed Parquet
 * (see docs/export.md).
 */
package org.treeroll.export;
