package dev.semihard.engine.util;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Both output styles pinned byte for byte (files depend on them), and the reader. */
class JsonTest {
    private static Map<String, Object> sample() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", 3);
        m.put("loss", 0.1f);
        m.put("lr", 1e-3);
        m.put("whole", 2.0);
        m.put("big", 1e16);
        m.put("tiny", 1.5e-4);
        m.put("pi", Math.PI);
        m.put("nan", Double.NaN);
        m.put("inf", Float.NEGATIVE_INFINITY);
        m.put("long", Long.MIN_VALUE);
        m.put("s", "a\"b\\c\nd\u0001é");
        m.put("ok", true);
        m.put("none", null);
        m.put("list", List.of(1, 2.5));
        m.put("empty", List.of());
        m.put("nested", Map.of());
        return m;
    }

    @Test
    void compactStyle() {
        assertEquals("{\"step\":3,\"loss\":0.1,\"lr\":0.001,\"whole\":2,\"big\":1.0E16,\"tiny\":1.5E-4,\"pi\":3.141592653589793,"
                + "\"nan\":NaN,\"inf\":-Infinity,\"long\":-9223372036854775808,\"s\":\"a\\\"b\\\\c\\nd\\u0001é\",\"ok\":true,\"none\":null,"
                + "\"list\":[1,2.5],\"empty\":[],\"nested\":{}}", Json.write(sample()));
        assertEquals("[1,-2]", Json.write(new long[] {1, -2}));
        assertEquals("[3]", Json.write(new int[] {3}));
        assertEquals("[0.5,NaN]", Json.write(new double[] {0.5, Double.NaN}));
        assertEquals("[0.1,2]", Json.write(new float[] {0.1f, 2f}));
        assertEquals("\"x\"", Json.write(new StringBuilder("x")), "other objects as their quoted toString()");
    }

    @Test
    void prettyStyle() {
        Map<String, Object> m = sample();
        m.put("nested", Map.of("k", List.of(Map.of("v", 12345678.9))));
        assertEquals("""
                {
                  "step": 3,
                  "loss": 0.1,
                  "lr": 0.001,
                  "whole": 2.0,
                  "big": 1.0E16,
                  "tiny": 1.5E-4,
                  "pi": 3.14159,
                  "nan": null,
                  "inf": null,
                  "long": -9223372036854775808,
                  "s": "a\\"b\\\\c\\nd\\u0001é",
                  "ok": true,
                  "none": null,
                  "list": [
                    1,
                    2.5
                  ],
                  "empty": [],
                  "nested": {
                    "k": [
                      {
                        "v": 1.23457E7
                      }
                    ]
                  }
                }""", Json.writePretty(m));
        assertEquals("[\n  0.5,\n  null\n]", Json.writePretty(new double[] {0.5, Double.NaN}));
    }

    @Test
    void parsesWhatItWrites() {
        Map<String, Object> back = Json.parseObject(Json.write(sample()));
        assertEquals(3L, back.get("step"));
        assertEquals(0.1, back.get("loss"));
        assertEquals(2L, back.get("whole"));
        assertEquals(1e16, back.get("big"));
        assertTrue(Double.isNaN((Double) back.get("nan")));
        assertEquals(Double.NEGATIVE_INFINITY, back.get("inf"));
        assertEquals(Long.MIN_VALUE, back.get("long"));
        assertEquals("a\"b\\c\nd\u0001é", back.get("s"));
        assertEquals(Boolean.TRUE, back.get("ok"));
        assertTrue(back.containsKey("none") && back.get("none") == null);
        assertEquals(List.of(1L, 2.5), back.get("list"));
        assertEquals(new ArrayList<>(sample().keySet()), new ArrayList<>(back.keySet()), "key order kept");
        Map<String, Object> pretty = Json.parseObject(Json.writePretty(sample()));
        assertEquals(3.14159, pretty.get("pi"));
        assertNull(pretty.get("nan"));
        assertEquals(Json.writePretty(sample()), Json.writePretty(pretty), "pretty output is a fixed point");
        assertEquals(1e20, Json.parse("100000000000000000000"), "integers too large for a long become doubles");
        assertEquals("\u00e9", Json.parse("\"\\u00e9\""));
        assertEquals(Arrays.asList(1L, null, Double.POSITIVE_INFINITY), Json.parse(" [1, null, Infinity] "));
    }

    @Test
    void malformedInputNamesTheOffset() {
        for (String bad : new String[] {"", "{", "{\"a\" 1}", "[1,]", "{\"a\":1} x", "\"abc", "tru", "-", "\"\\u12\"", "\"\\uzzzz\""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("malformed JSON at offset"), bad + ": " + e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Json.parseObject("[1]"));
    }
}
