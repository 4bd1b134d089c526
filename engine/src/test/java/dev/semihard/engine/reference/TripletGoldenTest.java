package dev.semihard.engine.reference;

import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused kernel against PyTorch ports of tfa.losses.triplet_semihard_loss, triplet_hard_loss and the
 * masked batch-all loss (fixture written by tools/golden/make_triplet_golden.py; see that script for the
 * formulations and the file format). Both sides compute in double precision from the same float32 inputs,
 * so the tolerances are tight; they differ only in arithmetic order (TF-Addons uses the Gram form of the
 * distance matrix).
 */
class TripletGoldenTest {
    record Case(String name, TripletOptions o, int b, int d, int[] labels, double[] e, double loss, double[] dE,
                int units, int active) {}

    static List<Case> load() throws IOException {
        List<Case> out = new ArrayList<>();
        try (InputStream in = TripletGoldenTest.class.getResourceAsStream("/golden/triplet-golden-v1.txt")) {
            assertNotNull(in, "fixture missing: run /usr/bin/python3 tools/golden/make_triplet_golden.py");
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            assertEquals("TRIPLET-GOLDEN 1", r.readLine());
            String line;
            while ((line = r.readLine()) != null) {
                String[] h = line.split(" ");
                assertEquals("case", h[0]);
                TripletOptions o = new TripletOptions(Strategy.parse(h[2]), Distance.parse(h[3]), Float.parseFloat(h[4]),
                        h[5].equals("1"), Integer.parseInt(h[8]));
                int b = Integer.parseInt(h[6]), d = Integer.parseInt(h[7]);
                int[] labels = Arrays.stream(values(r, "labels")).mapToInt(Integer::parseInt).toArray();
                String[] es = values(r, "e");
                double[] e = new double[es.length];
                for (int i = 0; i < e.length; i++) e[i] = Float.parseFloat(es[i]);   // the exact float32 inputs
                double loss = Double.parseDouble(values(r, "loss")[0]);
                double[] dE = Arrays.stream(values(r, "dE")).mapToDouble(Double::parseDouble).toArray();
                String[] c = values(r, "counts");
                assertEquals("end", r.readLine());
                out.add(new Case(h[1] + " " + h[2] + " " + h[3] + " m=" + h[4] + " soft=" + h[5], o, b, d, labels, e, loss, dE,
                        Integer.parseInt(c[0]), Integer.parseInt(c[1])));
            }
        }
        return out;
    }

    static String[] values(BufferedReader r, String key) throws IOException {
        String[] t = r.readLine().split(" ");
        assertEquals(key, t[0]);
        return Arrays.copyOfRange(t, 1, t.length);
    }

    @Test
    void matchesPyTorchPortsOfTfAddons() throws IOException {
        List<Case> cases = load();
        assertEquals(108, cases.size());
        for (Case c : cases) {
            double[] dE = new double[c.b() * c.d()], st = new double[TripletStats.SIZE];
            ReferenceTriplet.tripletLoss(c.b(), c.d(), c.labels(), c.o(), c.e(), dE, st);
            assertEquals(c.loss(), st[TripletStats.LOSS], 1e-10 * (1 + Math.abs(c.loss())), c.name() + " loss");
            assertEquals(c.units(), st[TripletStats.UNITS], c.name() + " units");
            assertEquals(c.active(), st[TripletStats.ACTIVE], c.name() + " active");
            double scale = 0;
            for (double v : c.dE()) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < dE.length; i++)
                assertEquals(c.dE()[i], dE[i], 1e-9 * (1 + scale), c.name() + " dE[" + i + "]");
            assertTrue(st[TripletStats.DEGENERATE] == 0, c.name());
        }
    }
}
