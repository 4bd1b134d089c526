package dev.semihard.trainer.ckpt;

import dev.semihard.trainer.io.AtomicFiles;
import dev.semihard.engine.util.Json;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (https://github.com/huggingface/safetensors), float32 and int32 tensors:
 * an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * {@code {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {"key": "string value", ...}}} padded with spaces to a multiple of 8, then the
 * tensors' little-endian bytes, offsets relative to the end of the header.
 * {@code safetensors.torch.load_file} and {@code safe_open} read these files.
 */
public final class SafeTensors {
    private SafeTensors() {}

    /**
     * A named tensor: float32 ({@code data}, dtype F32) or int32 ({@code ints}, dtype I32, e.g. the image
     * indices of the offline miner's triplets, which float32 cannot hold exactly beyond 2^24); exactly one of
     * the two arrays is set.
     */
    public record Entry(int[] shape, float[] data, int[] ints) {
        public Entry {
            if ((data == null) == (ints == null)) throw new IllegalArgumentException("safetensors entry: exactly one of float and int values");
            long n = 1;
            for (int d : shape) n *= d;
            int len = data != null ? data.length : ints.length;
            if (n != len) throw new IllegalArgumentException("safetensors entry: " + len + " values for shape "
                    + java.util.Arrays.toString(shape));
        }

        /** A float32 tensor. */
        public Entry(int[] shape, float[] data) { this(shape, data, null); }

        /** An int32 tensor. */
        public static Entry ofInts(int[] shape, int[] values) { return new Entry(shape, null, values); }

        /** "F32" or "I32". */
        public String dtype() { return data != null ? "F32" : "I32"; }

        /** Number of elements. */
        public int length() { return data != null ? data.length : ints.length; }
    }

    /** File contents: tensors in file order and the string metadata. */
    public record Contents(LinkedHashMap<String, Entry> tensors, Map<String, String> metadata) {}

    /** Writes {@code tensors} and {@code metadata} to {@code file} atomically (see {@link AtomicFiles}). */
    public static void write(Path file, Map<String, Entry> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) header.put("__metadata__", new LinkedHashMap<>(metadata));
        long off = 0;
        for (Map.Entry<String, Entry> e : tensors.entrySet()) {
            if (e.getKey().equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' is not a tensor name");
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("dtype", e.getValue().dtype());
            List<Object> shape = new ArrayList<>();
            for (int d : e.getValue().shape()) shape.add((long) d);
            t.put("shape", shape);
            long len = 4L * e.getValue().length();
            t.put("data_offsets", List.of(off, off + len));
            header.put(e.getKey(), t);
            off += len;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        final long dataLen = off;
        AtomicFiles.write(file, ch -> {
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded);
            head.put(json);
            while (head.position() < 8 + padded) head.put((byte) ' ');
            head.flip();
            AtomicFiles.writeFully(ch, head);
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (Entry en : tensors.values()) {
                for (int i = 0, n = en.length(); i < n; i++) {
                    if (buf.remaining() < 4) { buf.flip(); AtomicFiles.writeFully(ch, buf); buf.clear(); }
                    if (en.data() != null) buf.putFloat(en.data()[i]);
                    else buf.putInt(en.ints()[i]);
                }
            }
            buf.flip();
            AtomicFiles.writeFully(ch, buf);
            if (ch.size() != 8 + padded + dataLen) throw new IOException("safetensors: wrote " + ch.size() + " bytes, expected " + (8 + padded + dataLen));
        });
    }

    /**
     * Reads a file, validating it: header length inside the file, JSON well formed, F32 or I32 tensors whose
     * offsets are in range and match their shapes.
     *
     * @throws CheckpointException naming the file and the problem (truncated, not safetensors, ...)
     */
    public static Contents read(Path file) {
        if (!Files.isRegularFile(file)) throw new CheckpointException("checkpoint not found: " + file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new CheckpointException("checkpoint " + file + " is truncated (" + size + " bytes): delete it or resume from another run");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long hlen = lenBuf.flip().getLong();
            if (hlen < 2 || hlen > 100_000_000L)
                throw new CheckpointException("checkpoint " + file + " is not a safetensors file (header length " + hlen + ")");
            if (8 + hlen > size)
                throw new CheckpointException("checkpoint " + file + " is truncated: its header needs " + (8 + hlen) + " bytes, the file has " + size);
            ByteBuffer hb = ByteBuffer.allocate((int) hlen);
            readFully(ch, hb, 8);
            Map<String, Object> header;
            try {
                header = Json.parseObject(new String(hb.array(), StandardCharsets.UTF_8).trim());
            } catch (IllegalArgumentException e) {
                throw new CheckpointException("checkpoint " + file + " has a corrupt header: " + e.getMessage(), e);
            }
            Map<String, String> meta = new LinkedHashMap<>();
            Object m = header.remove("__metadata__");
            if (m instanceof Map<?, ?> mm) for (Map.Entry<?, ?> e : mm.entrySet()) meta.put(String.valueOf(e.getKey()), String.valueOf(e.getValue()));
            long dataStart = 8 + hlen, dataLen = size - dataStart;
            LinkedHashMap<String, Entry> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : header.entrySet()) {
                if (!(e.getValue() instanceof Map<?, ?> t)) throw new CheckpointException("checkpoint " + file + ": bad entry " + e.getKey());
                Object dtype = t.get("dtype");
                if (!"F32".equals(dtype) && !"I32".equals(dtype))
                    throw new CheckpointException("checkpoint " + file + ": tensor " + e.getKey() + " has dtype " + dtype
                            + ", only F32 and I32 are supported (convert it with safetensors in Python)");
                List<?> sh = (List<?>) t.get("shape"), offs = (List<?>) t.get("data_offsets");
                if (sh == null || offs == null || offs.size() != 2) throw new CheckpointException("checkpoint " + file + ": tensor " + e.getKey() + " lacks shape or data_offsets");
                int[] shape = new int[sh.size()];
                long n = 1;
                for (int i = 0; i < shape.length; i++) { shape[i] = ((Number) sh.get(i)).intValue(); n *= shape[i]; }
                long b = ((Number) offs.get(0)).longValue(), en = ((Number) offs.get(1)).longValue();
                if (en - b != 4 * n || b < 0)
                    throw new CheckpointException("checkpoint " + file + ": tensor " + e.getKey() + " has offsets [" + b + ", " + en + ") for " + n + " values");
                if (en > dataLen)
                    throw new CheckpointException("checkpoint " + file + " is truncated: tensor " + e.getKey() + " ends at byte " + (dataStart + en)
                            + " but the file has " + size + " bytes; delete it or resume from another run");
                ByteBuffer db = ByteBuffer.allocate((int) (en - b)).order(ByteOrder.LITTLE_ENDIAN);
                readFully(ch, db, dataStart + b);
                db.flip();
                if ("F32".equals(dtype)) {
                    float[] data = new float[(int) n];
                    db.asFloatBuffer().get(data);
                    tensors.put(e.getKey(), new Entry(shape, data));
                } else {
                    int[] data = new int[(int) n];
                    db.asIntBuffer().get(data);
                    tensors.put(e.getKey(), Entry.ofInts(shape, data));
                }
            }
            return new Contents(tensors, meta);
        } catch (IOException e) {
            throw new CheckpointException("cannot read checkpoint " + file + ": " + e.getMessage(), e);
        } catch (ClassCastException e) {
            throw new CheckpointException("checkpoint " + file + " has a malformed header: " + e.getMessage(), e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int r = ch.read(b, pos);
            if (r < 0) throw new IOException("unexpected end of file");
            pos += r;
        }
    }
}
