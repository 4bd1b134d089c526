package dev.semihard.trainer.data;

import dev.semihard.engine.util.Json;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * The packed dataset format, version {@value #VERSION} (docs/pack-format.md has the full description and
 * a NumPy reader). A pack is a folder:
 *
 * <pre>
 *   index.bin          magic "SEMIPACK", uint32 version, uint32 header length H, H bytes of JSON header,
 *                      zero padding to a multiple of 8, int64[identities + 1] identity starts,
 *                      the class names (UTF-8, '\n'-separated, header "names_bytes" bytes),
 *                      uint32 CRC-32 (zlib) of every byte before it; all little-endian
 *   shard-00000.bin    raw uint8 records of channels x height x width bytes (CHW), images in identity order
 *   paths.txt          one source path per image, in image order
 *   skipped.txt        files that were skipped while packing, with the reason (only when some were)
 *   pairs.txt          copied from an LFW source folder
 * </pre>
 *
 * Identity {@code m} owns images {@code starts[m] .. starts[m+1] - 1}; image {@code i} is record
 * {@code i - shardFirst} of its shard. The header's {@code shards} list gives each shard's file, images,
 * bytes and CRC-32.
 */
public final class PackFormat {
    private PackFormat() {}

    public static final byte[] MAGIC = "SEMIPACK".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 1;
    public static final String INDEX = "index.bin", PATHS = "paths.txt", SKIPPED = "skipped.txt", PAIRS = "pairs.txt";

    /** Default largest shard: 1 GiB (system property {@code semihard.pack.shardBytes} overrides it). */
    public static long shardBytes() { return Long.getLong("semihard.pack.shardBytes", 1L << 30); }

    /** Largest memory mapping of a reader: 1 GiB (system property {@code semihard.pack.mapBytes}: tests lower it to a few KiB). */
    public static long mapBytes() { return Math.max(1, Long.getLong("semihard.pack.mapBytes", 1L << 30)); }

    /**
     * Readers use positional reads (the default: the resident set stays flat, and the bytes are copied once either way)
     * unless the system property {@code semihard.pack.io=mmap} asks for memory mappings.
     */
    public static boolean positionalReads() { return !"mmap".equalsIgnoreCase(System.getProperty("semihard.pack.io", "pread")); }

    public static String shardName(int s) { return String.format("shard-%05d.bin", s); }

    /** One shard: its file name, images, bytes and CRC-32. */
    public record Shard(String file, long images, long bytes, long crc32) {}

    /** Everything index.bin holds. */
    public record Index(int version, Map<String, Object> header, long[] starts, byte[] names) {
        public int channels() { return intOf("channels"); }
        public int height() { return intOf("height"); }
        public int width() { return intOf("width"); }
        public long images() { return ((Number) header.get("images")).longValue(); }
        public int identities() { return starts.length - 1; }
        public float mean() { return ((Number) header.get("mean")).floatValue(); }
        public float std() { return ((Number) header.get("std")).floatValue(); }
        public long recordBytes() { return (long) channels() * height() * width(); }

        int intOf(String k) {
            Object v = header.get(k);
            if (!(v instanceof Number n)) throw new DataException("pack index: header has no '" + k + "'");
            return n.intValue();
        }

        @SuppressWarnings("unchecked")
        public List<Shard> shards() {
            return ((List<Object>) header.get("shards")).stream().map(o -> {
                Map<String, Object> m = (Map<String, Object>) o;
                return new Shard((String) m.get("file"), ((Number) m.get("images")).longValue(), ((Number) m.get("bytes")).longValue(),
                        ((Number) m.get("crc32")).longValue());
            }).toList();
        }
    }

    /** The header fields every pack starts with (the writer adds the counts and the shard list). */
    public static Map<String, Object> header(int channels, int height, int width, float mean, float std, String source) {
        Map<String, Object> h = new java.util.LinkedHashMap<>();
        h.put("format", "semihard-pack");
        h.put("version", VERSION);
        h.put("layout", "CHW");
        h.put("dtype", "uint8");
        h.put("channels", channels);
        h.put("height", height);
        h.put("width", width);
        h.put("mean", mean);
        h.put("std", std);
        h.put("source", source);
        return h;
    }

    /** index.bin's bytes. */
    public static byte[] encode(Map<String, Object> header, long[] starts, byte[] names) {
        byte[] h = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int pad = (int) ((8 - (16 + h.length) % 8) % 8);
        ByteBuffer b = ByteBuffer.allocate(16 + h.length + pad + 8 * starts.length + names.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).putInt(VERSION).putInt(h.length).put(h).put(new byte[pad]);
        for (long s : starts) b.putLong(s);
        b.put(names);
        CRC32 crc = new CRC32();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    /** Parses index.bin; {@code what} names it in errors. */
    @SuppressWarnings("unchecked")
    public static Index decode(byte[] a, String what) {
        String fix = "; re-create it with 'semihard pack'";
        if (a.length < 16) throw new DataException(what + " is truncated (" + a.length + " bytes, not even a header)" + fix);
        for (int i = 0; i < MAGIC.length; i++)
            if (a[i] != MAGIC[i])
                throw new DataException(what + " is not a semihard pack index: wrong magic (expected \"SEMIPACK\")" + fix);
        ByteBuffer b = ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN);
        int version = b.getInt(8);
        if (version != VERSION)
            throw new DataException(what + " has pack format version " + version + "; this semihard reads version " + VERSION
                    + (version > VERSION ? ": upgrade semihard, or" : ":") + " re-create the pack with this version's 'semihard pack'");
        int hl = b.getInt(12);
        if (hl < 2 || 16L + hl > a.length) throw new DataException(what + " is truncated inside its header" + fix);
        Map<String, Object> header;
        try {
            header = Json.parseObject(new String(a, 16, hl, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new DataException(what + " has an unreadable header (" + e.getMessage() + ")" + fix, e);
        }
        int off = 16 + hl;
        off += (8 - off % 8) % 8;
        Object ids = header.get("identities"), nb = header.get("names_bytes");
        if (!(ids instanceof Number) || !(nb instanceof Number)) throw new DataException(what + ": header lacks identities/names_bytes" + fix);
        long need = off + 8L * (((Number) ids).longValue() + 1) + ((Number) nb).longValue() + 4;
        if (a.length < need) throw new DataException(what + " is truncated: " + a.length + " bytes, its header promises " + need + fix);
        if (a.length > need) throw new DataException(what + " has " + (a.length - need) + " bytes more than its header promises" + fix);
        CRC32 crc = new CRC32();
        crc.update(a, 0, a.length - 4);
        if ((int) crc.getValue() != b.getInt(a.length - 4))
            throw new DataException(what + " is corrupt: its checksum does not match" + fix);
        long[] starts = new long[((Number) ids).intValue() + 1];
        b.position(off);
        for (int i = 0; i < starts.length; i++) starts[i] = b.getLong();
        byte[] names = new byte[((Number) nb).intValue()];
        b.get(names);
        Index ix = new Index(version, header, starts, names);
        long total = 0;
        for (Shard s : ix.shards()) total += s.images();
        if (starts[0] != 0 || starts[starts.length - 1] != ix.images() || total != ix.images())
            throw new DataException(what + " is inconsistent: identity ranges, shards and image count disagree" + fix);
        for (int i = 1; i < starts.length; i++)
            if (starts[i] <= starts[i - 1]) throw new DataException(what + " is inconsistent: identity " + (i - 1) + " has no images" + fix);
        return ix;
    }
}
