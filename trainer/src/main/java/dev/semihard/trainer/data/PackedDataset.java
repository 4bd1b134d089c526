package dev.semihard.trainer.data;

import dev.semihard.engine.mining.Identities;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.zip.CRC32;

/**
 * A pack ({@link PackFormat}) read from disk: opening reads index.bin only (checksum, identity ranges,
 * names) and checks every shard's size; pixels are read by positional reads ({@code FileChannel.read} at
 * an offset: nothing mapped, the resident set stays flat whatever the pack's size), or with
 * {@code -Dsemihard.pack.io=mmap} through memory mappings of at most {@link PackFormat#mapBytes()} bytes
 * each, made on first use (the mapped pages count in the resident set until the OS reclaims them). No size
 * limit either way, and the Java heap does not grow with the data. Labels are implicit: image
 * {@code i}'s label is the identity whose range holds it. Thread-safe.
 */
public final class PackedDataset implements Dataset {
    private final Path dir;
    private final String name;
    private final PackFormat.Index index;
    private final int channels, height, width;
    private final long record, mapBytes;
    private final long[] shardFirst;                 // first image of each shard, and the total at the end
    private final Path[] shardFiles;
    private final AtomicReferenceArray<MappedByteBuffer>[] maps;
    private final Identities identities;
    private final boolean pread;
    private final AtomicReferenceArray<FileChannel> open;
    private volatile List<String> classNames, paths;

    private PackedDataset(Path dir, PackFormat.Index ix) {
        this.dir = dir;
        this.name = dir.getFileName().toString();
        this.index = ix;
        this.channels = ix.channels();
        this.height = ix.height();
        this.width = ix.width();
        this.record = ix.recordBytes();
        this.mapBytes = PackFormat.mapBytes();
        if (channels < 1 || height < 1 || width < 1 || record > Integer.MAX_VALUE)
            throw new DataException(dir + ": pack index holds an invalid image shape " + channels + "x" + height + "x" + width);
        if (ix.images() > Integer.MAX_VALUE)
            throw new DataException(dir + " holds " + ix.images() + " images; at most 2^31 - 1 are supported in one pack");
        List<PackFormat.Shard> sh = ix.shards();
        shardFirst = new long[sh.size() + 1];
        shardFiles = new Path[sh.size()];
        maps = newMaps(sh.size());
        for (int s = 0; s < sh.size(); s++) {
            PackFormat.Shard x = sh.get(s);
            shardFirst[s + 1] = shardFirst[s] + x.images();
            shardFiles[s] = dir.resolve(x.file());
            if (x.bytes() != x.images() * record)
                throw new DataException(dir + ": pack index says " + x.file() + " holds " + x.images() + " images in " + x.bytes()
                        + " bytes, not " + record + " each; re-create the pack");
            long have;
            try {
                have = Files.size(shardFiles[s]);
            } catch (IOException e) {
                throw new DataException("pack " + dir + " is missing " + x.file() + " (" + e.getMessage() + "); re-create the pack", e);
            }
            if (have != x.bytes())
                throw new DataException("pack " + dir + ": " + x.file() + " is " + (have < x.bytes() ? "truncated" : "longer than expected")
                        + " (" + have + " bytes, its index says " + x.bytes() + "); re-create the pack with 'semihard pack'");
            maps[s] = new AtomicReferenceArray<>((int) Math.max(1, (x.bytes() + mapBytes - 1) / mapBytes));
        }
        this.identities = Identities.ranges(ix.starts(), null);
        this.pread = PackFormat.positionalReads();
        this.open = new AtomicReferenceArray<>(sh.size());
    }

    @SuppressWarnings("unchecked")
    private static AtomicReferenceArray<MappedByteBuffer>[] newMaps(int n) { return new AtomicReferenceArray[n]; }

    /** True when {@code dir} is a pack folder (holds index.bin). */
    public static boolean isPack(Path dir) { return dir != null && Files.isRegularFile(dir.resolve(PackFormat.INDEX)); }

    /** Opens a pack: reads and checks its index, checks the shards' sizes. */
    public static PackedDataset open(Path dir) {
        Path f = dir.resolve(PackFormat.INDEX);
        if (!Files.isRegularFile(f))
            throw new DataException(dir + " is not a pack: it has no " + PackFormat.INDEX + " (create one with 'semihard pack SRC -o " + dir + "')");
        byte[] a;
        try {
            a = Files.readAllBytes(f);
        } catch (IOException e) {
            throw new DataException("cannot read " + f + ": " + e.getMessage(), e);
        }
        return new PackedDataset(dir, PackFormat.decode(a, f.toString()));
    }

    /** Reads every shard and compares its CRC-32 with the index; throws naming the first that differs. Returns the bytes read. */
    public long verify() {
        long total = 0;
        List<PackFormat.Shard> sh = index.shards();
        byte[] buf = new byte[1 << 20];
        for (int s = 0; s < sh.size(); s++) {
            CRC32 crc = new CRC32();
            long n = sh.get(s).bytes();
            for (long pos = 0; pos < n; ) {
                int len = (int) Math.min(buf.length, n - pos);
                read(s, pos, buf, 0, len);
                crc.update(buf, 0, len);
                pos += len;
            }
            if (crc.getValue() != sh.get(s).crc32())
                throw new DataException("pack " + dir + ": " + sh.get(s).file() + " is corrupt (its CRC-32 " + Long.toHexString(crc.getValue())
                        + " does not match the index's " + Long.toHexString(sh.get(s).crc32()) + "); re-create the pack");
            total += n;
        }
        return total;
    }

    public Path dir() { return dir; }

    public PackFormat.Index index() { return index; }

    public int shards() { return shardFiles.length; }

    /** Bytes of pixels. */
    public long pixelBytes() { return shardFirst[shardFirst.length - 1] * record; }

    @Override public String name() { return name; }
    @Override public int size() { return (int) index.images(); }
    @Override public int channels() { return channels; }
    @Override public int height() { return height; }
    @Override public int width() { return width; }
    @Override public float mean() { return index.mean(); }
    @Override public float std() { return index.std(); }
    @Override public Identities identities() { return identities; }
    @Override public int label(int i) { return identities.identityOf(i); }
    @Override public int numClasses() { return identities.identities(); }

    @Override
    public List<String> classNames() {
        List<String> r = classNames;
        if (r == null) {
            String s = new String(index.names(), StandardCharsets.UTF_8);
            classNames = r = s.isEmpty() && index.identities() == 0 ? List.of() : List.of(s.split("\n", -1));
        }
        return r;
    }

    /** Source paths, read from paths.txt on first use (LFW pairs need them; training does not). */
    @Override
    public List<String> paths() {
        List<String> r = paths;
        if (r == null) {
            try {
                r = Files.readAllLines(dir.resolve(PackFormat.PATHS), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new DataException("cannot read " + dir.resolve(PackFormat.PATHS) + ": " + e.getMessage() + "; re-create the pack", e);
            }
            if (r.size() != size()) throw new DataException(dir.resolve(PackFormat.PATHS) + " lists " + r.size() + " paths for "
                    + size() + " images; re-create the pack");
            paths = r = List.copyOf(r);
        }
        return r;
    }

    @Override
    public void readImage(int i, byte[] dst, int off) {
        if (i < 0 || i >= size()) throw new IndexOutOfBoundsException("image " + i + " of " + size());
        int s = Arrays.binarySearch(shardFirst, i);
        if (s < 0) s = -s - 2;
        else while (s + 1 < shardFirst.length - 1 && shardFirst[s + 1] == i) s++;
        read(s, (i - shardFirst[s]) * record, dst, off, (int) record);
    }

    @Override
    public void copyWindow(int i, int y0, int x0, int h, int w, boolean flip, float[] dst, int off) {
        byte[] px = Scratch.bytes((int) record);
        readImage(i, px, 0);
        Dataset.window(px, 0, channels, height, width, y0, x0, h, w, flip, mean(), std(), dst, off);
    }

    /** Copies {@code len} bytes at {@code pos} of shard {@code s}, across mapping windows (or by positional reads). */
    private void read(int s, long pos, byte[] dst, int off, int len) {
        if (pread) {
            ByteBuffer b = ByteBuffer.wrap(dst, off, len);
            for (int attempt = 0; b.hasRemaining(); ) {
                try {
                    int n = channel(s).read(b, pos + b.position() - off);
                    if (n < 0) throw new DataException(shardFiles[s] + " ended early: the pack was truncated while open; re-create it");
                } catch (ClosedByInterruptException e) {
                    // this thread was interrupted (a loader shutting down): that closed the channel for every thread;
                    // the next read reopens it
                    throw new DataException("interrupted while reading " + shardFiles[s], e);
                } catch (ClosedChannelException e) {
                    if (++attempt > 3) throw new DataException("cannot read " + shardFiles[s] + ": its channel keeps closing", e);
                } catch (IOException e) {
                    throw new DataException("cannot read " + shardFiles[s] + ": " + e.getMessage(), e);
                }
            }
            return;
        }
        while (len > 0) {
            int w = (int) (pos / mapBytes);
            int in = (int) (pos - w * mapBytes);
            MappedByteBuffer m = map(s, w);
            int n = Math.min(len, m.capacity() - in);
            m.get(in, dst, off, n);
            pos += n;
            off += n;
            len -= n;
        }
    }

    /**
     * The shard's channel, opened on first use and again when closed: a positional read of a thread that is interrupted
     * (a loader shutting down its workers) closes a {@link FileChannel} for every thread.
     */
    private FileChannel channel(int s) throws IOException {
        FileChannel c = open.get(s);
        if (c != null && c.isOpen()) return c;
        synchronized (open) {
            c = open.get(s);
            if (c == null || !c.isOpen()) open.set(s, c = FileChannel.open(shardFiles[s], StandardOpenOption.READ));
        }
        return c;
    }

    private MappedByteBuffer map(int s, int w) {
        MappedByteBuffer m = maps[s].get(w);
        if (m != null) return m;
        synchronized (maps[s]) {
            m = maps[s].get(w);
            if (m == null) {
                long start = w * mapBytes, size = index.shards().get(s).bytes();
                try (FileChannel ch = FileChannel.open(shardFiles[s], StandardOpenOption.READ)) {
                    m = ch.map(FileChannel.MapMode.READ_ONLY, start, Math.min(mapBytes, size - start));
                } catch (IOException e) {
                    throw new DataException("cannot read " + shardFiles[s] + ": " + e.getMessage(), e);
                }
                maps[s].set(w, m);
            }
        }
        return m;
    }

    @Override public String toString() { return Dataset.describe(this); }
}
