package org.treeroll.server.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.spi.cluster.hazelcast.ConfigUtil;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.treeroll.tree.TreeRollException;

/**
 * How a node joins the cluster: Hazelcast with a TCP member list (no multicast), so discovery
 * works on loopback and across machines alike.
 *
 * @param name the cluster's name: nodes with another name never join it
 * @param host the address this node binds and announces (Hazelcast and the event bus)
 * @param port Hazelcast's port on this node
 * @param members {@code host} or {@code host:port} of other nodes to join through (a host alone
 *     means its ports 5701-5703; none means {@code host}'s); one live member is enough
 */
public record ClusterOptions(String name, String host, int port, List<String> members) {
  /** A lost member is declared gone after this many seconds without a heartbeat (Hazelcast's default is 60). */
  static final int MEMBER_TIMEOUT_S = 5;
  /** Where nodes look for each other on {@code host} when no members are given. */
  static final List<Integer> DEFAULT_PORTS = List.of(5701, 5702, 5703);

  public ClusterOptions {
    if (name == null || name.isBlank()) {
      throw new TreeRollException("--cluster-name must not be blank");
    }
    if (host == null || host.isBlank()) {
      throw new TreeRollException("--cluster-host must be an address, got '" + host + "'");
    }
    if (port < 1 || port > 65535) {
      throw new TreeRollException("--cluster-port must be in [1, 65535], got " + port);
    }
    members = List.copyOf(members);
  }

  /** A clustered Vert.x joined to the others; blocks until it has joined (or a minute passed). */
  public Joined join() {
    HazelcastClusterManager manager = new HazelcastClusterManager(hazelcastConfig());
    VertxOptions options = new VertxOptions().setEventBusOptions(new EventBusOptions().setHost(host).setPort(0));
    try {
      Vertx vertx = Vertx.builder().with(options).withClusterManager(manager).buildClustered()
          .toCompletionStage().toCompletableFuture().get(1, TimeUnit.MINUTES);
      return new Joined(vertx, manager);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new TreeRollException("cannot join cluster '" + name + "' at " + host + ":" + port + ": "
          + e.getCause().getMessage(), e.getCause());
    } catch (Exception e) {
      throw new TreeRollException("cannot join cluster '" + name + "' at " + host + ":" + port + ": " + e, e);
    }
  }

  /** A node in the cluster: its Vert.x and the cluster manager (whose node id names it). */
  public record Joined(Vertx vertx, HazelcastClusterManager manager) {
    /** The event bus's name for this node. */
    public String nodeId() {
      return manager.getNodeId();
    }

    /** Hazelcast's name for this node: what its member-removed events carry. */
    public String memberId() {
      return manager.getHazelcastInstance().getCluster().getLocalMember().getUuid().toString();
    }
  }

  private Config hazelcastConfig() {
    Config c = ConfigUtil.loadConfig(); // Vert.x's maps and their backups
    c.setClusterName(name);
    c.setProperty("hazelcast.logging.type", "slf4j");
    c.setProperty("hazelcast.phone.home.enabled", "false");
    c.setProperty("hazelcast.socket.bind.any", "false");
    c.setProperty("hazelcast.local.localAddress", host);
    // A member killed outright (kill -9) is declared gone in seconds, not the default minute.
    c.setProperty("hazelcast.heartbeat.interval.seconds", "1");
    c.setProperty("hazelcast.max.no.heartbeat.seconds", Integer.toString(MEMBER_TIMEOUT_S));
    c.setProperty("hazelcast.wait.seconds.before.join", "1");
    NetworkConfig n = c.getNetworkConfig();
    n.setPort(port).setPortAutoIncrement(false);
    JoinConfig j = n.getJoin();
    j.getMulticastConfig().setEnabled(false);
    j.getTcpIpConfig().setEnabled(true).setConnectionTimeoutSeconds(2).setMembers((members.isEmpty() ? List.of(host) : members).stream()
        // Hazelcast would try only this node's own port on a host given without one.
        .flatMap(m -> m.contains(":") ? java.util.stream.Stream.of(m) : DEFAULT_PORTS.stream().map(p -> m + ":" + p))
        .toList());
    return c;
  }
}
