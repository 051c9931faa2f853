/**
 * Tokenizers of HF checkpoints (tokenizer.json through DJL's HF tokenizers, or byte-level) with
 * their special tokens and chat template from tokenizer_config.json.
 */
package org.treeroll.engine.tokenizer;
