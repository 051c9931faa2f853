/**
 * Weight files and weight updates: safetensors reading and writing (F32, F16, BF16, single files
 * and sharded directories), {@link org.treeroll.engine.io.WeightSource} for loading a model, and
 * {@link org.treeroll.engine.io.WeightUpdate} for new values a trainer sends to a running one.
 * Every error names the file and tensor it concerns.
 */
package org.treeroll.engine.io;
