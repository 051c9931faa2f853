package org.treeroll.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class RoutingKeyTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void textTokenIdsAndMessagesAllGiveKeysWithSharedPrefixes() throws Exception {
    int[] a = RoutingKey.of(JSON.readTree("[\"sys: be brief\\nQ: 1\"]"));
    int[] b = RoutingKey.of(JSON.readTree("[{\"text\": \"sys: be brief\\nQ: 2\"}]"));
    assertThat(a).hasSize(18).startsWith(java.util.Arrays.copyOf(b, 17));
    assertThat(RoutingKey.of(JSON.readTree("[{\"token_ids\": [5, 6]}]"))).containsExactly(-1, 5, 6);
    int[] m = RoutingKey.of(JSON.readTree("[{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}]"));
    assertThat(m).containsExactly(-2, 'u', 's', 'e', 'r', -2, 'h', 'i');
    assertThat(RoutingKey.of(JSON.readTree("\"not an array\""))).isEmpty();
  }

  @Test
  void openAiPromptsAndMessagesGiveTheKeysOfTheSameRolloutPrompts() throws Exception {
    assertThat(RoutingKey.ofOpenAi(JSON.readTree("\"sys: be brief\\nQ: 1\"")))
        .isEqualTo(RoutingKey.of(JSON.readTree("[\"sys: be brief\\nQ: 1\"]")));
    assertThat(RoutingKey.ofOpenAi(JSON.readTree("[5, 6]"))).containsExactly(-1, 5, 6);
    assertThat(RoutingKey.ofOpenAi(JSON.readTree("[\"a\", [7]]"))).containsExactly('a', -3, -1, 7);
    assertThat(RoutingKey.ofOpenAi(JSON.readTree("[{\"role\": \"user\", \"content\": \"hi\"}]")))
        .isEqualTo(RoutingKey.of(JSON.readTree("[{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}]")));
    assertThat(RoutingKey.ofOpenAi(null)).isEmpty();
    assertThat(RoutingKey.ofOpenAi(JSON.readTree("7"))).isEmpty();
  }
}
