package org.treeroll.kvcache;

import it.unimi.dsi.fastutil.ints.Int2ObjectOpenHashMap;
import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.Comparator;
import java.util.TreeSet;
import org.treeroll.tree.TreeRollException;

/**
 * A prefix cache of KV keyed by token ids, in the manner of SGLang's radix cache, over a paged
 * pool.
 *
 * <p><b>Shape.</b> A radix tree: each node holds a run of tokens following its parent and, per
 * token, the slot ({@code page * pageSize + offset}) where its KV lives. Children are keyed by
 * their first token. Looking up a token sequence walks down as far as it matches; when the match
 * ends inside a node, the node is split there. A split moves slot lists only: no KV is copied.
 *
 * <p><b>Pages.</b> Slots are token-granular but memory is paged. Every node holds one reference
 * (see {@link PagePool#retain}) on each distinct page its slots use, so a page lives while any
 * node or live sequence ({@link PageTable}) uses it; when a split falls inside a page, both halves
 * reference it. Pages keep their alignment (offset {@code o} holds a position {@code = o mod
 * pageSize}), so a sequence continuing a cached prefix shares its full pages and copies at most
 * the one partially covered page ({@link PageTable#prefix}).
 *
 * <p><b>Lifetimes.</b> A live sequence locks the node at the end of its cached prefix, which
 * locks every ancestor: a locked node is never evicted. Unlocked leaves are evictable, ordered by
 * last use; eviction pops the least recently used one, releases its pages and may expose its
 * parent as the next leaf. Each eviction costs O(log n) in the number of evictable leaves,
 * nothing per cached token.
 *
 * <p><b>Weights.</b> The cache is tagged with the weight version its KV was computed under.
 * Changing the version drops everything, and is refused while a sequence holds a lock: stale KV
 * across a weight update silently corrupts RL training.
 *
 * <p>Not thread-safe: the engine's scheduler thread owns it.
 */
public final class RadixKvCache {
  /** A run of cached tokens following its parent. */
  public static final class Node {
    private Node parent;
    private final Int2ObjectOpenHashMap<Node> children = new Int2ObjectOpenHashMap<>();
    private IntArrayList tokens;
    private IntArrayList slots;
    private int start;
    private int locks;
    private long lastUse;
    private final long id;

    private Node(long id, Node parent, int start, IntArrayList tokens, IntArrayList slots) {
      this.id = id;
      this.parent = parent;
      this.start = start;
      this.tokens = tokens;
      this.slots = slots;
    }

    /** Position of this node's first token in the sequence. */
    public int start() {
      return start;
    }

    /** Position after this node's last token: the length of the prefix ending here. */
    public int end() {
      return start + tokens.size();
    }

    public boolean isRoot() {
      return parent == null;
    }

    int locks() {
      return locks;
    }
  }

  /** The deepest node of a lookup and the number of tokens that matched. */
  public record Match(Node node, int length) {}

  /** Counters since the cache was made. */
  public record Stats(long hitTokens, long insertedTokens, long evictedTokens, long evictedNodes,
      int cachedTokens, int nodes) {}

  private final PagePool pool;
  private final Node root;
  private final TreeSet<Node> evictable =
      new TreeSet<>(Comparator.comparingLong((Node n) -> n.lastUse).thenComparingLong(n -> n.id));
  private long nextId = 1;
  private long clock;
  private long weightVersion;
  private int liveLocks;
  private long hitTokens;
  private long insertedTokens;
  private long evictedTokens;
  private long evictedNodes;
  private int cachedTokens;
  private int nodes;

  public RadixKvCache(PagePool pool, long weightVersion) {
    this.pool = pool;
    this.weightVersion = weightVersion;
    this.root = new Node(0, null, 0, new IntArrayList(), new IntArrayList());
  }

  public PagePool pool() {
    return pool;
  }

  public Node root() {
    return root;
  }

  public long weightVersion() {
    return weightVersion;
  }

  /**
   * The longest cached prefix of {@code tokens}. Marks its path as used. When the prefix ends
   * inside a node, that node is split so that the returned node ends exactly there.
   */
  public Match match(int[] tokens) {
    Match m = descend(root, tokens);
    hitTokens += m.length();
    return m;
  }

  /**
   * Caches {@code tokens} (with the slots holding their KV) as a continuation of {@code parent}.
   * Any leading part that is already cached is skipped (its slots in the caller's table stay the
   * caller's). Returns the node that ends where {@code tokens} end.
   */
  public Node insert(Node parent, int[] tokens, int[] slots) {
    if (tokens.length != slots.length) {
      throw new IllegalArgumentException(tokens.length + " tokens but " + slots.length + " slots");
    }
    Match m = descend(parent, tokens);
    Node node = m.node();
    int i = m.length();
    if (i == tokens.length) {
      return node;
    }
    IntArrayList t = new IntArrayList(tokens, i, tokens.length - i);
    IntArrayList s = new IntArrayList(slots, i, slots.length - i);
    Node leaf = new Node(nextId++, node, node.end(), t, s);
    forEachPage(s, pool::retain);
    evictable.remove(node); // it has a child now
    node.children.put(t.getInt(0), leaf);
    nodes++;
    cachedTokens += t.size();
    insertedTokens += t.size();
    touch(leaf);
    return leaf;
  }

  /**
   * The physical page that holds logical page {@code k} of the first {@code length} tokens of the
   * path ending at {@code node}: the page of the last of those tokens that falls in it. A path
   * that continued a cached prefix ending mid-page did so in a copy of that page, which holds the
   * prefix's rows too, so the page of a logical page's last token holds all of its earlier rows
   * (pages are written front to back and copies take every row before the fork). Taking the
   * first token's page instead would stop reuse wherever two prompts share a few tokens.
   */
  public int pageAt(Node node, int k, int length) {
    int ps = pool.pageSize();
    if (length > node.end() || k < 0 || k * ps >= length) {
      throw new IllegalArgumentException("logical page " + k + " of a " + length + "-token prefix of a path of "
          + node.end() + " tokens");
    }
    return slotAt(node, Math.min((k + 1) * ps, length) - 1) / ps;
  }

  private int slotAt(Node node, int pos) {
    Node n = node;
    while (n.start > pos) {
      n = n.parent;
    }
    return n.slots.getInt(pos - n.start);
  }

  /** Protects the path ending at {@code node} from eviction until {@link #unlock}. */
  public void lock(Node node) {
    for (Node n = node; !n.isRoot(); n = n.parent) {
      evictable.remove(n);
      n.locks++;
    }
    liveLocks++;
  }

  public void unlock(Node node) {
    for (Node n = node; !n.isRoot(); n = n.parent) {
      if (n.locks == 0) {
        throw new IllegalStateException("unlock of a node that is not locked");
      }
      n.locks--;
      refresh(n);
    }
    liveLocks--;
  }

  /**
   * Evicts least-recently-used unlocked leaves until {@code pages} pages are free or nothing is
   * left to evict.
   *
   * @return whether {@code pages} pages are free
   */
  public boolean evictUntilFree(int pages) {
    while (pool.freePages() < pages && !evictable.isEmpty()) {
      evict(evictable.pollFirst());
    }
    return pool.freePages() >= pages;
  }

  /** Drops every cached prefix and adopts a new weight version. */
  public void setWeightVersion(long version) {
    if (version == weightVersion) {
      return;
    }
    if (liveLocks > 0) {
      throw new TreeRollException("cannot change the weight version from " + weightVersion + " to "
          + version + " while " + liveLocks + " sequences use the cache");
    }
    while (!evictable.isEmpty()) {
      evict(evictable.pollFirst());
    }
    weightVersion = version;
  }

  /** Locks held now: one per live sequence standing on a cached prefix. */
  public int liveLocks() {
    return liveLocks;
  }

  public Stats stats() {
    return new Stats(hitTokens, insertedTokens, evictedTokens, evictedNodes, cachedTokens, nodes);
  }

  /**
   * Walks down from {@code from} as far as {@code tokens} match, splitting the node where the
   * match ends inside one, and marks the path as used.
   */
  private Match descend(Node from, int[] tokens) {
    Node node = from;
    int i = 0;
    while (i < tokens.length) {
      Node child = node.children.get(tokens[i]);
      if (child == null) {
        break;
      }
      int common = commonPrefix(child.tokens, tokens, i);
      // After a split the walk ends: the upper part's only child differs at the next token.
      node = common < child.tokens.size() ? split(child, common) : child;
      i += common;
      touch(node);
    }
    return new Match(node, i);
  }

  private void evict(Node n) {
    forEachPage(n.slots, pool::release);
    Node parent = n.parent;
    parent.children.remove(n.tokens.getInt(0));
    nodes--;
    cachedTokens -= n.tokens.size();
    evictedTokens += n.tokens.size();
    evictedNodes++;
    refresh(parent);
  }

  /** Cuts {@code n} after {@code k} tokens; returns the new upper part, which ends at the cut. */
  private Node split(Node n, int k) {
    Node upper = new Node(nextId++, n.parent, n.start,
        new IntArrayList(n.tokens.subList(0, k)), new IntArrayList(n.slots.subList(0, k)));
    upper.locks = n.locks; // every lock through n passes through its new parent
    upper.lastUse = n.lastUse;
    int ps = pool.pageSize();
    if (n.slots.getInt(k - 1) / ps == n.slots.getInt(k) / ps) {
      pool.retain(n.slots.getInt(k) / ps); // the page is now used by both halves
    }
    n.parent.children.put(upper.tokens.getInt(0), upper);
    n.tokens = new IntArrayList(n.tokens.subList(k, n.tokens.size()));
    n.slots = new IntArrayList(n.slots.subList(k, n.slots.size()));
    n.start += k;
    n.parent = upper;
    upper.children.put(n.tokens.getInt(0), n);
    nodes++;
    return upper;
  }

  private void touch(Node n) {
    evictable.remove(n);
    n.lastUse = ++clock;
    refresh(n);
  }

  /** Re-files {@code n} among the evictable leaves after its locks or children changed. */
  private void refresh(Node n) {
    if (!n.isRoot() && n.locks == 0 && n.children.isEmpty()) {
      evictable.add(n);
    } else {
      evictable.remove(n);
    }
  }

  /** Calls {@code f} once per distinct page of a slot run (pages appear in runs, in order). */
  private void forEachPage(IntArrayList slots, java.util.function.IntConsumer f) {
    int ps = pool.pageSize();
    int last = -1;
    for (int i = 0; i < slots.size(); i++) {
      int page = slots.getInt(i) / ps;
      if (page != last) {
        f.accept(page);
        last = page;
      }
    }
  }

  private static int commonPrefix(IntArrayList cached, int[] tokens, int from) {
    int n = Math.min(cached.size(), tokens.length - from);
    int i = 0;
    while (i < n && cached.getInt(i) == tokens[from + i]) {
      i++;
    }
    return i;
  }
}
