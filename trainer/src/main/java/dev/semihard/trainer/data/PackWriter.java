package dev.semihard.trainer.data;

import dev.semihard.trainer.util.Log;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.CRC32;

/**
 * Writes a pack ({@link PackFormat}) streamed: images arrive in identity order and go straight to the
 * current shard, so memory stays bounded whatever the number of images. Everything is written under
 * {@code OUT.tmp-<pid>} next to the target and renamed to {@code OUT} by {@link #commit()} only when complete
 * (after an fsync of every file): an interrupted pack never looks valid, and the next writer of the same
 * target removes the leftovers of a dead one (logging it).
 */
public final class PackWriter implements AutoCloseable {
    private final Path out, tmp;
    private final int channels, height, width;
    private final long record, perShard;
    private final Map<String, Object> header;
    private final List<Map<String, Object>> shards = new ArrayList<>();
    private final List<Long> starts = new ArrayList<>();
    private final StringBuilder names = new StringBuilder();
    private final BufferedWriter paths;
    private final List<String> skipped = new ArrayList<>();
    private final long failAfter = Long.getLong("semihard.pack.failAfterBytes", -1);
    private FileChannel shard;
    private OutputStream shardOut;
    private final CRC32 crc = new CRC32();
    private long inShard, images, written;
    private String current;
    private boolean done;

    /**
     * @param out   the pack folder to create
     * @param force replace an existing pack at {@code out} (only once the new one is complete)
     */
    public PackWriter(Path out, int channels, int height, int width, float mean, float std, long shardBytes, boolean force, String source) {
        this.out = out.toAbsolutePath().normalize();
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.record = (long) channels * height * width;
        this.perShard = Math.max(1, shardBytes / record);
        this.header = PackFormat.header(channels, height, width, mean, std, source);
        if (Files.exists(this.out) && !force)
            throw new DataException(out + " already exists: choose another -o, or pass --force to replace it");
        Path parent = this.out.getParent();
        this.tmp = parent.resolve(this.out.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(parent);
            removeStale(this.out);
            if (Files.exists(tmp)) deleteTree(tmp);
            Files.createDirectory(tmp);
            paths = Files.newBufferedWriter(tmp.resolve(PackFormat.PATHS), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw writeError(e);
        }
    }

    /** The temporary folder being written (tests). */
    public Path tempDir() { return tmp; }

    /** Appends an image of {@code identity} (identities arrive together, one after the other). */
    public void add(String identity, byte[] pixels, String path) {
        if (pixels.length != record) throw new IllegalArgumentException("image of " + pixels.length + " bytes, expected " + record);
        if (path.indexOf('\n') >= 0) throw new DataException("a source path holds a line break: " + path.replace("\n", "\\n"));
        try {
            if (!identity.equals(current)) {
                if (identity.indexOf('\n') >= 0) throw new DataException("an identity name holds a line break: " + identity);
                if (current != null) names.append('\n');
                names.append(identity);
                starts.add(images);
                current = identity;
            }
            if (shard == null || inShard == perShard) openShard();
            written += record;
            if (failAfter >= 0 && written > failAfter)
                throw new IOException("No space left on device (injected by semihard.pack.failAfterBytes)");
            shardOut.write(pixels);
            crc.update(pixels);
            inShard++;
            images++;
            paths.write(path);
            paths.write('\n');
        } catch (IOException e) {
            throw writeError(e);
        }
    }

    /** Records a file that was not packed (listed in skipped.txt). */
    public void skip(String path, String why) { skipped.add(path + "\t" + why.replace('\n', ' ')); }

    public long images() { return images; }

    public int identities() { return starts.size(); }

    public int skippedCount() { return skipped.size(); }

    /** Extra header fields (e.g. counts for the log). */
    public void put(String key, Object value) { header.put(key, value); }

    /** Copies a file into the pack (pairs.txt). */
    public void copyIn(Path file, String name) {
        try {
            Files.copy(file, tmp.resolve(name), StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw writeError(e);
        }
    }

    private void openShard() throws IOException {
        closeShard();
        String name = PackFormat.shardName(shards.size());
        shard = FileChannel.open(tmp.resolve(name), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        shardOut = new java.io.BufferedOutputStream(Channels.newOutputStream(shard), 1 << 20);
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("file", name);
        shards.add(s);
        inShard = 0;
        crc.reset();
    }

    private void closeShard() throws IOException {
        if (shard == null) return;
        shardOut.flush();
        shard.force(true);
        shard.close();
        Map<String, Object> s = shards.get(shards.size() - 1);
        s.put("images", inShard);
        s.put("bytes", inShard * record);
        s.put("crc32", crc.getValue());
        shard = null;
    }

    /** Writes the index, fsyncs, and renames the folder to its final name. Returns the pack's folder. */
    public Path commit() {
        if (images == 0) throw new DataException("nothing to pack: no image could be read (see the skipped files above)");
        try {
            closeShard();
            paths.close();
            long[] st = new long[starts.size() + 1];
            for (int i = 0; i < starts.size(); i++) st[i] = starts.get(i);
            st[starts.size()] = images;
            byte[] nm = names.toString().getBytes(StandardCharsets.UTF_8);
            header.put("images", images);
            header.put("identities", starts.size());
            header.put("record_bytes", record);
            header.put("images_per_shard", perShard);
            header.put("shards", shards);
            header.put("names_bytes", nm.length);
            header.put("skipped", skipped.size());
            if (!skipped.isEmpty())
                Files.write(tmp.resolve(PackFormat.SKIPPED), (String.join("\n", skipped) + "\n").getBytes(StandardCharsets.UTF_8));
            byte[] index = PackFormat.encode(header, st, nm);
            try (FileChannel ch = FileChannel.open(tmp.resolve(PackFormat.INDEX), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(index));
                ch.force(true);
            }
            for (String f : new String[] {PackFormat.PATHS, PackFormat.SKIPPED, PackFormat.PAIRS}) fsync(tmp.resolve(f));
            fsync(tmp);
            Path old = null;
            if (Files.exists(out)) {
                old = out.resolveSibling(out.getFileName() + ".old-" + ProcessHandle.current().pid());
                Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
            }
            try {
                Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("the file system of " + out.getParent() + " cannot rename atomically", e);
            }
            fsync(out.getParent());
            if (old != null) deleteTree(old);
            done = true;
            return out;
        } catch (IOException e) {
            throw writeError(e);
        }
    }

    private DataException writeError(IOException e) {
        abort();
        String m = e.getMessage() == null ? e.toString() : e.getMessage();
        String hint = m.toLowerCase(java.util.Locale.ROOT).contains("space") ? "free some space or choose another -o"
                : "check that the folder is writable or choose another -o";
        return new DataException("cannot write the pack " + out + ": " + e.getClass().getSimpleName() + ": " + m + " (" + hint
                + "); nothing was left at " + out, e);
    }

    /** Removes the temporary folder (the target is untouched). */
    public void abort() {
        if (done) return;
        done = true;
        try {
            if (shard != null) shard.close();
        } catch (IOException ignored) {
            // removing it below
        }
        try {
            paths.close();
        } catch (IOException | RuntimeException ignored) {
            // removing it below
        }
        try {
            deleteTree(tmp);
        } catch (IOException e) {
            Log.warn("could not remove the unfinished pack " + tmp + ": " + e.getMessage() + " (delete it by hand)");
        }
    }

    @Override
    public void close() { abort(); }

    /** Deletes {@code OUT.tmp-<pid>} folders of writers that are no longer running. */
    static void removeStale(Path out) throws IOException {
        String prefix = out.getFileName() + ".tmp-";
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(out.getParent(), prefix + "*")) {
            for (Path p : ds) {
                String pid = p.getFileName().toString().substring(prefix.length());
                long id;
                try {
                    id = Long.parseLong(pid);
                } catch (NumberFormatException e) {
                    continue;
                }
                if (id != ProcessHandle.current().pid() && ProcessHandle.of(id).map(ProcessHandle::isAlive).orElse(false)) continue;
                Log.info("removing " + p + ": an unfinished pack left by an interrupted run (process " + id + ")");
                deleteTree(p);
            }
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }

    private static void fsync(Path p) {
        if (!Files.exists(p)) return;
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // some file systems refuse to open a directory for fsync; the rename is still atomic
        }
    }
}
