package org.treeroll.server.cluster;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.treeroll.server.ServerOptions;

/**
 * The engine's side of a relayed request (docs/scale-out.md, "Streams and the OpenAI-compatible
 * endpoints"): the request a router sent over the event bus is replayed against this engine's
 * own HTTP API on loopback, and the response goes back to the router over the bus as it is
 * written: a {@code head} (status, content type), each {@code chunk}, then {@code end}. So a
 * stream through the router carries the very bytes the engine writes, and its checks, admission,
 * timeout and disconnect cancellation are the engine's own. The bus message is answered once the
 * response ended (or failed), so that the router learns of a lost engine or a timeout.
 */
final class HttpRelay implements AutoCloseable {
  private final Vertx vertx;
  private final HttpClientAgent client;
  private final String host;
  private final int port;
  private final String apiKey;
  private final Map<String, HttpClientRequest> open = new ConcurrentHashMap<>();
  final List<MessageConsumer<Buffer>> consumers;

  HttpRelay(Vertx vertx, String node, int port, ServerOptions options) {
    this.vertx = vertx;
    // Streams hold their connection for the whole request: one connection per request admitted.
    this.client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
        new PoolOptions().setHttp1MaxSize(options.maxInFlight() + 1));
    // A wildcard bind answers on loopback; otherwise the address bound is the one to call.
    this.host = options.host().equals("0.0.0.0") || options.host().equals("::") ? "127.0.0.1" : options.host();
    this.port = port;
    this.apiKey = options.apiKey();
    this.consumers = List.of(
        vertx.eventBus().<Buffer>consumer(Bus.relay(node), this::relay),
        vertx.eventBus().<Buffer>consumer(Bus.relayCancels(node), m -> {
          HttpClientRequest r = open.remove(m.body().toString());
          if (r != null) {
            r.reset(); // closes the connection: the engine cancels the request as for a client gone
          }
        }));
  }

  private void relay(Message<Buffer> m) {
    String to = m.headers().get(Bus.REPLY_TO);
    String exchange = m.headers().get(Bus.EXCHANGE);
    RequestOptions o = new RequestOptions().setMethod(HttpMethod.valueOf(m.headers().get(Bus.METHOD)))
        .setHost(host).setPort(port).setURI(m.headers().get(Bus.PATH));
    if (m.headers().get(Bus.CONTENT_TYPE) != null) {
      o.putHeader(HttpHeaders.CONTENT_TYPE, m.headers().get(Bus.CONTENT_TYPE));
    }
    if (apiKey != null) {
      o.putHeader(HttpHeaders.AUTHORIZATION, "Bearer " + apiKey);
    }
    client.request(o).compose(req -> {
      open.put(exchange, req);
      return req.send(m.body());
    }).onSuccess(res -> forward(m, to, exchange, res)).onFailure(e -> {
      open.remove(exchange);
      m.fail(502, "the engine's own HTTP API did not answer: " + e.getMessage());
    });
  }

  private void forward(Message<Buffer> m, String to, String exchange, HttpClientResponse res) {
    String type = res.getHeader(HttpHeaders.CONTENT_TYPE);
    DeliveryOptions head = part(exchange, "head").addHeader(Bus.STATUS, Integer.toString(res.statusCode()));
    if (type != null) {
      head.addHeader(Bus.CONTENT_TYPE, type);
    }
    vertx.eventBus().send(to, Buffer.buffer(), head);
    res.handler(chunk -> vertx.eventBus().send(to, chunk, part(exchange, "chunk")));
    res.exceptionHandler(e -> {
      open.remove(exchange);
      m.fail(502, "the engine's response broke off: " + e.getMessage());
    });
    res.endHandler(v -> {
      open.remove(exchange);
      vertx.eventBus().send(to, Buffer.buffer(), part(exchange, "end"));
      m.reply(Buffer.buffer());
    });
  }

  private static DeliveryOptions part(String exchange, String part) {
    return new DeliveryOptions().addHeader(Bus.EXCHANGE, exchange).addHeader(Bus.PART, part);
  }

  @Override
  public void close() {
    consumers.forEach(MessageConsumer::unregister);
    client.close();
  }
}
