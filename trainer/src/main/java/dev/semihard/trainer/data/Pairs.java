package dev.semihard.trainer.data;

import dev.semihard.engine.Rng;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Verification pairs split into folds: the LFW {@code pairs.txt} protocol (10 folds of 300
 * matched + 300 mismatched pairs), or pairs drawn with a fixed seed from a labelled set
 * (docs/benchmarks.md recipe Q: 3,000 same-class and 3,000 different-class pairs).
 */
public final class Pairs {
    private Pairs() {}

    /** Seed of the generated evaluation pairs: fixed, so every run scores the same pairs. */
    public static final long PAIR_SEED = 20151217L;

    /** Two image indices, whether they share an identity, and the fold the pair belongs to. */
    public record Pair(int a, int b, boolean same, int fold) {}

    /**
     * Draws {@code nSame} same-label and {@code nDiff} different-label pairs (a != b) from
     * {@code labels} with {@link #PAIR_SEED}, spread over {@code folds} folds (fold f holds the
     * f-th block of each kind, like LFW).
     */
    public static List<Pair> generate(int[] labels, int nSame, int nDiff, int folds, long seed) {
        int n = labels.length;
        int max = 0;
        for (int l : labels) max = Math.max(max, l);
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c <= max; c++) byClass.add(new ArrayList<>());
        for (int i = 0; i < n; i++) byClass.get(labels[i]).add(i);
        List<Integer> multi = new ArrayList<>();
        int nonEmpty = 0;
        for (int c = 0; c <= max; c++) {
            if (byClass.get(c).size() >= 2) multi.add(c);
            if (!byClass.get(c).isEmpty()) nonEmpty++;
        }
        if (multi.isEmpty() && nSame > 0)
            throw new DataException("cannot draw same-identity pairs: no identity in the evaluation set has two images");
        if (nonEmpty < 2 && nDiff > 0)
            throw new DataException("cannot draw different-identity pairs: the evaluation set has a single identity");
        Rng rng = new Rng(seed);
        List<Pair> out = new ArrayList<>(nSame + nDiff);
        for (int i = 0; i < nSame; i++) {
            // a uniformly random image among those whose class has >= 2 images, then a different image of its class
            int a;
            List<Integer> cls;
            do {
                a = rng.nextInt(n);
                cls = byClass.get(labels[a]);
            } while (cls.size() < 2);
            int b;
            do { b = cls.get(rng.nextInt(cls.size())); } while (b == a);
            out.add(new Pair(a, b, true, (int) ((long) i * folds / Math.max(1, nSame))));
        }
        for (int i = 0; i < nDiff; i++) {
            int a = rng.nextInt(n), b;
            do { b = rng.nextInt(n); } while (labels[b] == labels[a]);
            out.add(new Pair(a, b, false, (int) ((long) i * folds / Math.max(1, nDiff))));
        }
        return out;
    }

    /**
     * Reads LFW's {@code pairs.txt}: a first line "folds n" (or just "n" for one fold), then per
     * fold n matched lines "name i j" and n mismatched lines "name1 i name2 j". Image k of
     * "name" is {@code name/name_%04d.jpg}; {@code index} maps such relative paths to images.
     *
     * @throws DataException for a malformed file, or naming the missing images when any pair
     *                       names a file that is not in the data folder
     */
    public static List<Pair> readLfw(Path pairsTxt, Map<String, Integer> index) {
        List<String> lines;
        try {
            lines = Files.readAllLines(pairsTxt);
        } catch (IOException e) {
            throw new DataException("cannot read " + pairsTxt + ": " + e.getMessage(), e);
        }
        lines = lines.stream().map(String::trim).filter(l -> !l.isEmpty()).toList();
        if (lines.isEmpty()) throw new DataException(pairsTxt + " is empty");
        String[] head = lines.get(0).split("\\s+");
        int folds, per;
        try {
            if (head.length == 2) { folds = Integer.parseInt(head[0]); per = Integer.parseInt(head[1]); }
            else if (head.length == 1) { folds = 1; per = Integer.parseInt(head[0]); }
            else throw new NumberFormatException();
        } catch (NumberFormatException e) {
            throw new DataException(pairsTxt + ": first line must be 'folds pairs-per-kind' (e.g. '10 300'), got '" + lines.get(0) + "'");
        }
        if (lines.size() - 1 != folds * 2 * per)
            throw new DataException(pairsTxt + " promises " + folds + " folds of " + per + " matched + " + per
                    + " mismatched pairs (" + folds * 2 * per + " lines) but has " + (lines.size() - 1));
        List<Pair> out = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        int ln = 1;
        for (int f = 0; f < folds; f++) {
            for (int k = 0; k < 2 * per; k++, ln++) {
                String[] t = lines.get(ln).split("\\s+");
                boolean same = k < per;
                String n1, n2;
                int i1, i2;
                try {
                    if (same && t.length == 3) { n1 = t[0]; n2 = t[0]; i1 = Integer.parseInt(t[1]); i2 = Integer.parseInt(t[2]); }
                    else if (!same && t.length == 4) { n1 = t[0]; n2 = t[2]; i1 = Integer.parseInt(t[1]); i2 = Integer.parseInt(t[3]); }
                    else throw new NumberFormatException();
                } catch (NumberFormatException e) {
                    throw new DataException(pairsTxt + " line " + (ln + 1) + ": expected " + (same ? "'name i j'" : "'name1 i name2 j'")
                            + ", got '" + lines.get(ln) + "'");
                }
                Integer a = lookup(index, n1, i1), b = lookup(index, n2, i2);
                if (a == null) missing.add(lfwPath(n1, i1));
                if (b == null) missing.add(lfwPath(n2, i2));
                if (a != null && b != null) out.add(new Pair(a, b, same, f));
            }
        }
        if (!missing.isEmpty())
            throw new DataException(pairsTxt + " names " + missing.size() + " image(s) missing from the data folder, e.g. "
                    + String.join(", ", missing.subList(0, Math.min(3, missing.size())))
                    + ". Use the complete LFW folder, or remove pairs.txt to evaluate on seeded random pairs.");
        return out;
    }

    static String lfwPath(String name, int i) { return name + "/" + name + String.format("_%04d", i); }

    private static Integer lookup(Map<String, Integer> index, String name, int i) {
        String base = lfwPath(name, i);
        for (String ext : new String[] {".jpg", ".png", ".jpeg", ".JPG", ".PNG"}) {
            Integer v = index.get(base + ext);
            if (v != null) return v;
        }
        return null;
    }
}
