package org.treeroll.engine.tokenizer;

/**
 * Special tokens of a checkpoint, from tokenizer_config.json and generation_config.json, with
 * ids resolved through tokenizer.json's added tokens.
 *
 * @param bosId begin-of-sequence id, -1 when there is none
 * @param eosIds ids that end a response
 * @param chatTemplate the Jinja chat template text, null when the checkpoint has none
 */
public record SpecialTokens(int bosId, int[] eosIds, String bosToken, String eosToken,
    String padToken, String chatTemplate) {
  public SpecialTokens {
    eosIds = eosIds.clone();
  }

  @Override
  public int[] eosIds() {
    return eosIds.clone();
  }
}
