package org.treeroll.cli;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousFileChannel;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AccessMode;
import java.nio.file.CopyOption;
import java.nio.file.DirectoryStream;
import java.nio.file.FileStore;
import java.nio.file.FileSystem;
import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.ProviderMismatchException;
import java.nio.file.StandardOpenOption;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.FileAttributeView;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.nio.file.spi.FileSystemProvider;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The JVM's file system in a crash test's child process, installed with
 * {@code -Djava.nio.file.spi.DefaultFileSystemProvider=} this class: it passes every call to the
 * platform's provider, and at the one point {@code -Dtreeroll.crash.at=TARGET:EVENT} names it
 * prints {@value #MARKER}{@code TARGET:EVENT} on stdout and stops that thread for good, so the
 * test kills the process exactly there. The points are those of an atomic write of the file
 * named TARGET, through its temporary file {@code TARGET<digits>.tmp}:
 *
 * <ul>
 *   <li>{@code open}: the temporary file was just created, empty;
 *   <li>{@code write}: half of the first buffer written into it reached the disk, the rest not;
 *   <li>{@code rename}: it holds everything, about to be renamed over TARGET;
 *   <li>{@code renamed}: the rename is done, the next file not started.
 * </ul>
 *
 * <p>The code under test is the real command line, unchanged: the pauses live in the file system.
 */
public final class PausingFileSystemProvider extends FileSystemProvider {
  static final String MARKER = "CRASH-POINT ";
  static final String PROPERTY = "treeroll.crash.at";
  private static final Pattern TEMP = Pattern.compile("(.+?)\\d+\\.tmp");

  private final FileSystemProvider platform;
  private final PausingFileSystem fs;
  private final String target;
  private final String event;

  public PausingFileSystemProvider(FileSystemProvider platform) {
    this.platform = platform;
    this.fs = new PausingFileSystem(this, platform.getFileSystem(URI.create("file:///")));
    String at = System.getProperty(PROPERTY, "");
    int colon = at.lastIndexOf(':');
    this.target = colon < 0 ? "" : at.substring(0, colon);
    this.event = colon < 0 ? "" : at.substring(colon + 1);
  }

  /** The target a temporary file of {@code AtomicFile} stands for, or null. */
  private static String targetOf(Path p) {
    Path name = p.getFileName();
    if (name == null) {
      return null;
    }
    Matcher m = TEMP.matcher(name.toString());
    return m.matches() ? m.group(1) : null;
  }

  private boolean at(String file, String ev) {
    return target.equals(file) && event.equals(ev);
  }

  /** Says where it stopped, then never returns: the test kills the process now. */
  private static void pause(String file, String ev) {
    System.out.println(MARKER + file + ":" + ev);
    System.out.flush();
    while (true) {
      try {
        Thread.sleep(Long.MAX_VALUE);
      } catch (InterruptedException e) {
        // stay: only SIGKILL ends this
      }
    }
  }

  static Path unwrap(Path p) {
    if (p instanceof PausingPath pp) {
      return pp.delegate;
    }
    if (p == null) {
      return null;
    }
    throw new ProviderMismatchException(p.getClass().getName());
  }

  PausingPath wrap(Path p) {
    return p == null ? null : new PausingPath(fs, p);
  }

  Iterator<Path> wrapAll(Iterator<Path> it) {
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return it.hasNext();
      }

      @Override
      public Path next() {
        return wrap(it.next());
      }
    };
  }

  @Override
  public String getScheme() {
    return platform.getScheme();
  }

  @Override
  public FileSystem newFileSystem(URI uri, Map<String, ?> env) throws IOException {
    throw new UnsupportedOperationException("the default file system exists already");
  }

  @Override
  public FileSystem getFileSystem(URI uri) {
    return fs;
  }

  @Override
  public Path getPath(URI uri) {
    return wrap(platform.getPath(uri));
  }

  @Override
  public SeekableByteChannel newByteChannel(Path path, Set<? extends OpenOption> options, FileAttribute<?>... attrs)
      throws IOException {
    return watched(path, options, platform.newByteChannel(unwrap(path), options, attrs));
  }

  @Override
  public FileChannel newFileChannel(Path path, Set<? extends OpenOption> options, FileAttribute<?>... attrs)
      throws IOException {
    FileChannel ch = platform.newFileChannel(unwrap(path), options, attrs);
    String file = targetOf(path);
    if (file != null && options.contains(StandardOpenOption.CREATE_NEW) && at(file, "open")) {
      pause(file, "open");
    }
    return ch;
  }

  /** Temporary files of the target: pause when created, or halfway through the first write. */
  private SeekableByteChannel watched(Path path, Set<? extends OpenOption> options, SeekableByteChannel ch) {
    String file = targetOf(path);
    if (file == null) {
      return ch;
    }
    if (options.contains(StandardOpenOption.CREATE_NEW) && at(file, "open")) {
      pause(file, "open");
    }
    if (!options.contains(StandardOpenOption.WRITE) || !at(file, "write")) {
      return ch;
    }
    return new SeekableByteChannel() {
      @Override
      public int write(ByteBuffer src) throws IOException {
        if (src.remaining() > 1) {
          ByteBuffer half = src.slice(src.position(), src.remaining() / 2);
          while (half.hasRemaining()) {
            ch.write(half);
          }
          if (ch instanceof FileChannel fc) {
            fc.force(true);
          }
          pause(file, "write");
        }
        return ch.write(src);
      }

      @Override
      public int read(ByteBuffer dst) throws IOException {
        return ch.read(dst);
      }

      @Override
      public long position() throws IOException {
        return ch.position();
      }

      @Override
      public SeekableByteChannel position(long p) throws IOException {
        ch.position(p);
        return this;
      }

      @Override
      public long size() throws IOException {
        return ch.size();
      }

      @Override
      public SeekableByteChannel truncate(long size) throws IOException {
        ch.truncate(size);
        return this;
      }

      @Override
      public boolean isOpen() {
        return ch.isOpen();
      }

      @Override
      public void close() throws IOException {
        ch.close();
      }
    };
  }

  @Override
  public AsynchronousFileChannel newAsynchronousFileChannel(Path path, Set<? extends OpenOption> options,
      ExecutorService executor, FileAttribute<?>... attrs) throws IOException {
    return platform.newAsynchronousFileChannel(unwrap(path), options, executor, attrs);
  }

  @Override
  public DirectoryStream<Path> newDirectoryStream(Path dir, DirectoryStream.Filter<? super Path> filter)
      throws IOException {
    DirectoryStream<Path> s = platform.newDirectoryStream(unwrap(dir), p -> filter.accept(wrap(p)));
    return new DirectoryStream<>() {
      @Override
      public Iterator<Path> iterator() {
        return wrapAll(s.iterator());
      }

      @Override
      public void close() throws IOException {
        s.close();
      }
    };
  }

  @Override
  public void createDirectory(Path dir, FileAttribute<?>... attrs) throws IOException {
    platform.createDirectory(unwrap(dir), attrs);
  }

  @Override
  public void createSymbolicLink(Path link, Path target, FileAttribute<?>... attrs) throws IOException {
    platform.createSymbolicLink(unwrap(link), unwrap(target), attrs);
  }

  @Override
  public void createLink(Path link, Path existing) throws IOException {
    platform.createLink(unwrap(link), unwrap(existing));
  }

  @Override
  public Path readSymbolicLink(Path link) throws IOException {
    return wrap(platform.readSymbolicLink(unwrap(link)));
  }

  @Override
  public void delete(Path path) throws IOException {
    platform.delete(unwrap(path));
  }

  @Override
  public void copy(Path source, Path target, CopyOption... options) throws IOException {
    platform.copy(unwrap(source), unwrap(target), options);
  }

  @Override
  public void move(Path source, Path target, CopyOption... options) throws IOException {
    String file = targetOf(source);
    if (file != null && at(file, "rename")) {
      pause(file, "rename");
    }
    platform.move(unwrap(source), unwrap(target), options);
    if (file != null && at(file, "renamed")) {
      pause(file, "renamed");
    }
  }

  @Override
  public boolean isSameFile(Path path, Path path2) throws IOException {
    return platform.isSameFile(unwrap(path), unwrap(path2));
  }

  @Override
  public boolean isHidden(Path path) throws IOException {
    return platform.isHidden(unwrap(path));
  }

  @Override
  public FileStore getFileStore(Path path) throws IOException {
    return platform.getFileStore(unwrap(path));
  }

  @Override
  public void checkAccess(Path path, AccessMode... modes) throws IOException {
    platform.checkAccess(unwrap(path), modes);
  }

  @Override
  public <V extends FileAttributeView> V getFileAttributeView(Path path, Class<V> type, LinkOption... options) {
    return platform.getFileAttributeView(unwrap(path), type, options);
  }

  @Override
  public <A extends BasicFileAttributes> A readAttributes(Path path, Class<A> type, LinkOption... options)
      throws IOException {
    return platform.readAttributes(unwrap(path), type, options);
  }

  @Override
  public Map<String, Object> readAttributes(Path path, String attributes, LinkOption... options) throws IOException {
    return platform.readAttributes(unwrap(path), attributes, options);
  }

  @Override
  public void setAttribute(Path path, String attribute, Object value, LinkOption... options) throws IOException {
    platform.setAttribute(unwrap(path), attribute, value, options);
  }

  /** The platform's default file system, handing out {@link PausingPath}s. */
  static final class PausingFileSystem extends FileSystem {
    final PausingFileSystemProvider provider;
    final FileSystem platform;

    PausingFileSystem(PausingFileSystemProvider provider, FileSystem platform) {
      this.provider = provider;
      this.platform = platform;
    }

    @Override
    public FileSystemProvider provider() {
      return provider;
    }

    @Override
    public void close() throws IOException {
      throw new UnsupportedOperationException("the default file system cannot be closed");
    }

    @Override
    public boolean isOpen() {
      return true;
    }

    @Override
    public boolean isReadOnly() {
      return platform.isReadOnly();
    }

    @Override
    public String getSeparator() {
      return platform.getSeparator();
    }

    @Override
    public Iterable<Path> getRootDirectories() {
      return () -> provider.wrapAll(platform.getRootDirectories().iterator());
    }

    @Override
    public Iterable<FileStore> getFileStores() {
      return platform.getFileStores();
    }

    @Override
    public Set<String> supportedFileAttributeViews() {
      return platform.supportedFileAttributeViews();
    }

    @Override
    public Path getPath(String first, String... more) {
      return provider.wrap(platform.getPath(first, more));
    }

    @Override
    public PathMatcher getPathMatcher(String syntaxAndPattern) {
      PathMatcher m = platform.getPathMatcher(syntaxAndPattern);
      return p -> m.matches(unwrap(p));
    }

    @Override
    public UserPrincipalLookupService getUserPrincipalLookupService() {
      return platform.getUserPrincipalLookupService();
    }

    @Override
    public WatchService newWatchService() throws IOException {
      return platform.newWatchService();
    }
  }

  /** A platform path that belongs to the {@link PausingFileSystem}. */
  static final class PausingPath implements Path {
    final PausingFileSystem fs;
    final Path delegate;

    PausingPath(PausingFileSystem fs, Path delegate) {
      this.fs = fs;
      this.delegate = delegate;
    }

    private PausingPath wrap(Path p) {
      return fs.provider.wrap(p);
    }

    @Override
    public FileSystem getFileSystem() {
      return fs;
    }

    @Override
    public boolean isAbsolute() {
      return delegate.isAbsolute();
    }

    @Override
    public Path getRoot() {
      return wrap(delegate.getRoot());
    }

    @Override
    public Path getFileName() {
      return wrap(delegate.getFileName());
    }

    @Override
    public Path getParent() {
      return wrap(delegate.getParent());
    }

    @Override
    public int getNameCount() {
      return delegate.getNameCount();
    }

    @Override
    public Path getName(int index) {
      return wrap(delegate.getName(index));
    }

    @Override
    public Path subpath(int beginIndex, int endIndex) {
      return wrap(delegate.subpath(beginIndex, endIndex));
    }

    @Override
    public boolean startsWith(Path other) {
      return other instanceof PausingPath o && delegate.startsWith(o.delegate);
    }

    @Override
    public boolean endsWith(Path other) {
      return other instanceof PausingPath o && delegate.endsWith(o.delegate);
    }

    @Override
    public Path normalize() {
      return wrap(delegate.normalize());
    }

    @Override
    public Path resolve(Path other) {
      return wrap(delegate.resolve(unwrap(other)));
    }

    @Override
    public Path relativize(Path other) {
      return wrap(delegate.relativize(unwrap(other)));
    }

    @Override
    public URI toUri() {
      return delegate.toUri();
    }

    @Override
    public Path toAbsolutePath() {
      return wrap(delegate.toAbsolutePath());
    }

    @Override
    public Path toRealPath(LinkOption... options) throws IOException {
      return wrap(delegate.toRealPath(options));
    }

    @Override
    public WatchKey register(WatchService watcher, WatchEvent.Kind<?>[] events, WatchEvent.Modifier... modifiers)
        throws IOException {
      return delegate.register(watcher, events, modifiers);
    }

    @Override
    public int compareTo(Path other) {
      return delegate.compareTo(unwrap(other));
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof PausingPath p && delegate.equals(p.delegate);
    }

    @Override
    public int hashCode() {
      return delegate.hashCode();
    }

    @Override
    public String toString() {
      return delegate.toString();
    }
  }
}
