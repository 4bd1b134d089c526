package dev.semihard.engine.util;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The project's one JSON reader and writer (no library needed), for metrics lines, run summaries,
 * evaluation results, safetensors headers and benchmark result files.
 *
 * <p>Values written: {@link Map} (keys as strings, in iteration order), {@link Iterable} and arrays of
 * {@code long}, {@code int}, {@code double}, {@code float} (as arrays), {@link String}, {@link Boolean},
 * numbers and null; anything else as its quoted {@code toString()}. Two styles, each fixed because files
 * depend on it byte for byte:
 * <ul>
 *   <li>{@link #write}: compact, one line (metrics.jsonl, evals.jsonl, eval.json, summary.json, config.json,
 *       safetensors headers). Numbers at full precision: a double or float that is a whole number below
 *       1e15 as an integer ({@code 2}), otherwise Java's shortest repeating form ({@code 0.1}, {@code 1.5E-4};
 *       floats as floats, so {@code 0.1f} is {@code 0.1}, not {@code 0.10000000149011612}). Non-finite
 *       numbers as the tokens {@code NaN}, {@code Infinity}, {@code -Infinity}: not strict JSON, but what
 *       Python's {@code json} module writes and reads by default and what {@link #parse} reads, so a
 *       diverging value stays visible as what it was instead of turning into a missing one.</li>
 *   <li>{@link #writePretty}: indented by two spaces, {@code "key": value}, no trailing newline (benchmark
 *       result files, read by {@code bench/python/*.py} and kept in {@code bench/results/}). Doubles and floats
 *       rounded to six significant digits, in Java's shortest form of the rounded value ({@code 2.0},
 *       {@code 1.5E-4}); non-finite numbers as {@code null}: these files are strict JSON, and a
 *       measurement that is not a number is a missing one.</li>
 * </ul>
 *
 * <p>Reading ({@link #parse}, {@link #parseObject}): objects become {@link LinkedHashMap}s (key order kept),
 * arrays {@link List}s, integers without fraction or exponent {@link Long}s (a {@link Double} if they do not
 * fit), other numbers {@link Double}s, plus String, Boolean and null; the tokens {@code NaN},
 * {@code Infinity} and {@code -Infinity} are accepted. Malformed input throws an
 * {@link IllegalArgumentException} naming the offset.
 */
public final class Json {
    private Json() {}

    // ------------------------------------------------------------------ writing

    /** Compact, full-precision JSON on one line (see the class comment for numbers). */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, false, 0);
        return sb.toString();
    }

    /** Indented JSON with six significant digits and null for non-finite numbers; no trailing newline. */
    public static String writePretty(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, true, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v, boolean pretty, int indent) {
        if (v == null) sb.append("null");
        else if (v instanceof String s) quote(sb, s);
        else if (v instanceof Boolean b) sb.append(b);
        else if (v instanceof Number n) number(sb, n, pretty);
        else if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) { sb.append("{}"); return; }
            sb.append(pretty ? "{\n" : "{");
            int i = 0;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (pretty) pad(sb, indent + 1);
                quote(sb, String.valueOf(e.getKey()));
                sb.append(pretty ? ": " : ":");
                write(sb, e.getValue(), pretty, indent + 1);
                separator(sb, ++i < m.size(), pretty);
            }
            if (pretty) pad(sb, indent);
            sb.append('}');
        } else if (v instanceof Iterable<?> it) {
            List<Object> l = new ArrayList<>();
            for (Object o : it) l.add(o);
            if (l.isEmpty()) { sb.append("[]"); return; }
            sb.append(pretty ? "[\n" : "[");
            for (int i = 0; i < l.size(); i++) {
                if (pretty) pad(sb, indent + 1);
                write(sb, l.get(i), pretty, indent + 1);
                separator(sb, i + 1 < l.size(), pretty);
            }
            if (pretty) pad(sb, indent);
            sb.append(']');
        } else if (v instanceof long[] a) write(sb, java.util.Arrays.stream(a).boxed().toList(), pretty, indent);
        else if (v instanceof int[] a) write(sb, java.util.Arrays.stream(a).boxed().toList(), pretty, indent);
        else if (v instanceof double[] a) write(sb, java.util.Arrays.stream(a).boxed().toList(), pretty, indent);
        else if (v instanceof float[] a) {
            List<Float> l = new ArrayList<>(a.length);
            for (float x : a) l.add(x);
            write(sb, l, pretty, indent);
        } else quote(sb, v.toString());
    }

    private static void separator(StringBuilder sb, boolean more, boolean pretty) {
        if (pretty) sb.append(more ? ",\n" : "\n");
        else if (more) sb.append(',');
    }

    private static void number(StringBuilder sb, Number n, boolean pretty) {
        if (!(n instanceof Double || n instanceof Float)) {
            if (pretty) sb.append(n.longValue());
            else sb.append(n);
            return;
        }
        double d = n.doubleValue();
        if (!Double.isFinite(d)) sb.append(pretty ? "null" : Double.isNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        else if (pretty) sb.append(Double.parseDouble(String.format(Locale.ROOT, "%.6g", d)));
        else if (d == Math.rint(d) && Math.abs(d) < 1e15) sb.append((long) d);
        else sb.append(n instanceof Float f ? Float.toString(f) : Double.toString(d));
    }

    private static void pad(StringBuilder sb, int indent) { sb.append("  ".repeat(indent)); }

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    // ------------------------------------------------------------------ reading

    /** Parses one JSON value; throws {@link IllegalArgumentException} with the offset on malformed input. */
    public static Object parse(String s) {
        Parser p = new Parser(s);
        p.ws();
        Object v = p.value();
        p.ws();
        if (p.i != s.length()) throw p.err("trailing characters");
        return v;
    }

    /** Parses a JSON object. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String s) {
        Object v = parse(s);
        if (!(v instanceof Map)) throw new IllegalArgumentException("JSON: expected an object");
        return (Map<String, Object>) v;
    }

    private static final class Parser {
        final String s;
        int i;

        Parser(String s) { this.s = s; }

        IllegalArgumentException err(String what) {
            return new IllegalArgumentException("malformed JSON at offset " + i + ": " + what);
        }

        void ws() { while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++; }

        Object value() {
            if (i >= s.length()) throw err("unexpected end");
            char c = s.charAt(i);
            switch (c) {
                case '{': return object();
                case '[': return array();
                case '"': return string();
                case 't': expect("true"); return Boolean.TRUE;
                case 'f': expect("false"); return Boolean.FALSE;
                case 'n': expect("null"); return null;
                case 'N': expect("NaN"); return Double.NaN;
                case 'I': expect("Infinity"); return Double.POSITIVE_INFINITY;
                default: return number();
            }
        }

        void expect(String w) {
            if (!s.startsWith(w, i)) throw err("expected " + w);
            i += w.length();
        }

        Map<String, Object> object() {
            Map<String, Object> m = new LinkedHashMap<>();
            i++;
            ws();
            if (i < s.length() && s.charAt(i) == '}') { i++; return m; }
            while (true) {
                ws();
                if (i >= s.length() || s.charAt(i) != '"') throw err("expected a key");
                String k = string();
                ws();
                if (i >= s.length() || s.charAt(i) != ':') throw err("expected ':'");
                i++;
                ws();
                m.put(k, value());
                ws();
                if (i >= s.length()) throw err("unexpected end in object");
                char c = s.charAt(i++);
                if (c == '}') return m;
                if (c != ',') throw err("expected ',' or '}'");
            }
        }

        List<Object> array() {
            List<Object> l = new ArrayList<>();
            i++;
            ws();
            if (i < s.length() && s.charAt(i) == ']') { i++; return l; }
            while (true) {
                ws();
                l.add(value());
                ws();
                if (i >= s.length()) throw err("unexpected end in array");
                char c = s.charAt(i++);
                if (c == ']') return l;
                if (c != ',') throw err("expected ',' or ']'");
            }
        }

        String string() {
            StringBuilder sb = new StringBuilder();
            i++;
            while (true) {
                if (i >= s.length()) throw err("unterminated string");
                char c = s.charAt(i++);
                if (c == '"') return sb.toString();
                if (c == '\\') {
                    if (i >= s.length()) throw err("bad escape");
                    char e = s.charAt(i++);
                    switch (e) {
                        case 'n' -> sb.append('\n');
                        case 't' -> sb.append('\t');
                        case 'r' -> sb.append('\r');
                        case 'b' -> sb.append('\b');
                        case 'f' -> sb.append('\f');
                        case 'u' -> {
                            if (i + 4 > s.length()) throw err("bad \\u escape");
                            try {
                                sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                            } catch (NumberFormatException x) {
                                throw err("bad \\u escape");
                            }
                            i += 4;
                        }
                        default -> sb.append(e);
                    }
                } else sb.append(c);
            }
        }

        Object number() {
            int st = i;
            if (i < s.length() && s.charAt(i) == '-') {
                i++;
                if (s.startsWith("Infinity", i)) { i += 8; return Double.NEGATIVE_INFINITY; }
            }
            boolean frac = false;
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c >= '0' && c <= '9') i++;
                else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { frac = true; i++; }
                else break;
            }
            String t = s.substring(st, i);
            if (t.isEmpty() || t.equals("-")) throw err("expected a value");
            try {
                if (!frac) {
                    try { return Long.parseLong(t); } catch (NumberFormatException e) { return Double.parseDouble(t); }
                }
                return Double.parseDouble(t);
            } catch (NumberFormatException e) {
                throw err("bad number '" + t + "'");
            }
        }
    }
}
