package dev.semihard.engine.golden;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reader of the PyTorch golden fixture written by {@code tools/golden/make_golden.py} (format
 * version 1: a text header ending with "end", then little-endian arrays; see the script).
 */
final class GoldenFixture {
    static final int VERSION = 1;

    record Init(String name, double lo, double hi, int[] shape) {
        int numel() {
            int n = 1;
            for (int d : shape) n *= d;
            return n;
        }
    }

    record Entry(String key, String dtype, int count, int offset, Map<String, String> props) {
        double prop(String k) { return Double.parseDouble(props.get(k)); }
    }

    private final ByteBuffer data;
    private final Map<String, Map<String, String>> meta = new HashMap<>();
    private final Map<String, String> metaRaw = new HashMap<>();
    private final Map<String, Map<String, String>> models = new LinkedHashMap<>();
    private final Map<String, List<Init>> inits = new HashMap<>();
    private final Map<String, Entry> arrays = new LinkedHashMap<>();

    static GoldenFixture load() { return load("golden-v" + VERSION + ".bin", "make_golden.py"); }

    /** {@code /golden/<file>}, written by {@code tools/golden/<script>}. */
    static GoldenFixture load(String file, String script) {
        String res = "/golden/" + file;
        try (InputStream in = GoldenFixture.class.getResourceAsStream(res)) {
            if (in == null) throw new IllegalStateException("missing test resource " + res + "; run /usr/bin/python3 tools/golden/" + script);
            return new GoldenFixture(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private GoldenFixture(byte[] bytes) {
        int end = indexOf(bytes, "\nend\n".getBytes(StandardCharsets.US_ASCII));
        if (end < 0) throw new IllegalStateException("golden fixture: no 'end' line");
        String header = new String(bytes, 0, end, StandardCharsets.UTF_8);
        data = ByteBuffer.wrap(bytes, end + 5, bytes.length - end - 5).slice().order(ByteOrder.LITTLE_ENDIAN);
        String[] lines = header.split("\n");
        if (!lines[0].equals("SEMIHARD-GOLDEN " + VERSION))
            throw new IllegalStateException("golden fixture: expected version " + VERSION + ", got '" + lines[0] + "'");
        for (int i = 1; i < lines.length; i++) {
            String[] t = lines[i].split(" ");
            switch (t[0]) {
                case "meta" -> {
                    meta.put(t[1], props(t, 2));
                    metaRaw.put(t[1], lines[i].substring(("meta " + t[1]).length()).trim());
                }
                case "model" -> models.put(t[1], props(t, 2));
                case "init" -> inits.computeIfAbsent(t[1], k -> new ArrayList<>()).add(
                        new Init(t[2], Double.parseDouble(t[3]), Double.parseDouble(t[4]), shape(t[5])));
                case "array" -> arrays.put(t[1], new Entry(t[1], t[2], Integer.parseInt(t[3]), Integer.parseInt(t[4]), props(t, 5)));
                default -> throw new IllegalStateException("golden fixture: unknown header line '" + lines[i] + "'");
            }
        }
    }

    private static Map<String, String> props(String[] t, int from) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = from; i < t.length; i++) {
            int eq = t[i].indexOf('=');
            if (eq > 0) m.put(t[i].substring(0, eq), t[i].substring(eq + 1));
        }
        return m;
    }

    private static int[] shape(String s) {
        String[] p = s.split(",");
        int[] r = new int[p.length];
        for (int i = 0; i < p.length; i++) r[i] = Integer.parseInt(p[i]);
        return r;
    }

    private static int indexOf(byte[] a, byte[] pat) {
        outer:
        for (int i = 0; i + pat.length <= a.length; i++) {
            for (int j = 0; j < pat.length; j++) if (a[i + j] != pat[j]) continue outer;
            return i;
        }
        return -1;
    }

    Map<String, String> meta(String key) { return meta.get(key); }

    /** The text after "meta KEY ". */
    String metaValue(String key) { return metaRaw.get(key); }

    float metaFloat(String key, String prop) { return (float) Double.parseDouble(meta.get(key).get(prop)); }

    Map<String, String> model(String name) { return models.get(name); }

    List<Init> inits(String model) { return inits.get(model); }

    Entry entry(String key) {
        Entry e = arrays.get(key);
        if (e == null) throw new IllegalStateException("golden fixture: no array '" + key + "'");
        return e;
    }

    boolean has(String key) { return arrays.containsKey(key); }

    float[] floats(Entry e) {
        if (!e.dtype().equals("f32")) throw new IllegalStateException(e.key() + " is " + e.dtype());
        float[] v = new float[e.count()];
        for (int i = 0; i < v.length; i++) v[i] = data.getFloat(e.offset() + 4 * i);
        return v;
    }

    int[] ints(Entry e) {
        if (!e.dtype().equals("i32")) throw new IllegalStateException(e.key() + " is " + e.dtype());
        int[] v = new int[e.count()];
        for (int i = 0; i < v.length; i++) v[i] = data.getInt(e.offset() + 4 * i);
        return v;
    }
}
