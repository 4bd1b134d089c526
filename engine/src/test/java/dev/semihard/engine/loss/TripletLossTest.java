package dev.semihard.engine.loss;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Autograd;
import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.engine.reference.ReferenceTriplet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TripletLoss as a differentiable function: one kernel call, backward = upstream * dE. */
class TripletLossTest {
    static final ReferenceBackend BE = new ReferenceBackend(1);

    @AfterAll
    static void close() { BE.close(); }

    static float[] randomRows(Rng r, int b, int d) {
        float[] v = new float[b * d];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    void backwardAddsTheKernelGradient() {
        int b = 12, d = 5;
        int[] y = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 4, 5};
        float[] x = randomRows(new Rng(1), b, d);
        TripletOptions o = new TripletOptions(Strategy.SEMIHARD, Distance.SQUARED_L2, 0.2f, false, 9);
        try (Arena a = Arena.open()) {
            Tensor e = Tensor.of(BE, x, b, d).requiresGrad(true);
            TripletLoss.Result r = TripletLoss.compute(e, y, o);
            // expected: the reference kernel on the same (float) inputs
            double[] ed = new double[x.length], dE = new double[x.length], st = new double[TripletStats.SIZE];
            for (int i = 0; i < x.length; i++) ed[i] = x[i];
            ReferenceTriplet.tripletLoss(b, d, y, o, ed, dE, st);
            assertEquals((float) st[TripletStats.LOSS], r.loss().item());
            assertEquals((float) st[TripletStats.LOSS], r.stats().loss());
            assertEquals(st[TripletStats.POSITIVE_PAIRS], r.stats().positivePairs());
            assertTrue(r.stats().loss() > 0, "random embeddings should give a positive loss");
            r.loss().backward();
            float[] g = e.grad().toArray();
            for (int i = 0; i < g.length; i++) assertEquals((float) dE[i], g[i], 1e-7f);
        }
    }

    @Test
    void upstreamGradientScalesDE() {
        int b = 6, d = 3;
        int[] y = {0, 0, 1, 1, 2, 2};
        float[] x = randomRows(new Rng(2), b, d);
        TripletOptions o = new TripletOptions(Strategy.BATCH_HARD, Distance.L2, 0.5f, false, b);
        try (Arena a = Arena.open()) {
            Tensor e1 = Tensor.of(BE, x, b, d).requiresGrad(true);
            TripletLoss.compute(e1, y, o).loss().backward();
            Tensor e2 = Tensor.of(BE, x, b, d).requiresGrad(true);
            Tensor loss = TripletLoss.compute(e2, y, o).loss();
            loss.backward(Tensor.of(BE, new float[] {-2.5f}, 1));
            float[] g1 = e1.grad().toArray(), g2 = e2.grad().toArray();
            boolean nonzero = false;
            for (int i = 0; i < g1.length; i++) { assertEquals(-2.5f * g1[i], g2[i], 1e-6f); nonzero |= g1[i] != 0; }
            assertTrue(nonzero);
        }
    }

    /** BE behind a proxy that counts the downloads (device-to-host reads: host synchronizations on a GPU). */
    static final class Counting {
        final java.util.concurrent.atomic.AtomicInteger downloads = new java.util.concurrent.atomic.AtomicInteger();
        final dev.semihard.engine.backend.Backend backend = (dev.semihard.engine.backend.Backend) java.lang.reflect.Proxy.newProxyInstance(
                Counting.class.getClassLoader(), new Class<?>[] {dev.semihard.engine.backend.Backend.class}, (proxy, m, args) -> {
                    if (m.getName().equals("download") || m.getName().equals("sumSquares")) downloads.incrementAndGet();
                    if (m.getName().equals("close")) return null;     // BE is shared by the class
                    try {
                        return m.invoke(BE, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @Test
    void backwardFromTheLossReadsNothingFromTheDevice() {
        // loss.backward() seeds 1, which the host knows: the loss's backward must not download its
        // upstream gradient to learn that (on a GPU each download waits for the whole queue)
        int b = 12, d = 5;
        int[] y = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 4, 5};
        float[] x = randomRows(new Rng(3), b, d);
        TripletOptions o = new TripletOptions(Strategy.SEMIHARD, Distance.SQUARED_L2, 0.2f, false, b);
        Counting c = new Counting();
        try (Arena a = Arena.open()) {
            Tensor e = Tensor.of(c.backend, x, b, d).requiresGrad(true);
            TripletLoss.Result r = TripletLoss.compute(e, y, o);
            assertEquals(1, c.downloads.get(), "compute downloads the statistics once (the logged loss)");
            r.loss().backward();
            assertEquals(1, c.downloads.get(), "backward() of the loss read something from the device");
            float[] g = e.grad().toArray();
            Tensor e2 = Tensor.of(BE, x, b, d).requiresGrad(true);
            TripletLoss.compute(e2, y, o).loss().backward(Tensor.of(BE, new float[] {1f}, 1));   // explicit seed: read
            assertArrayEquals(e2.grad().toArray(), g, "the same gradient as with an explicit seed of 1");
        }
    }

    @Test
    void aLeafKeepsNoHostValueForItsGradient() {
        // the host-known seed is for the backward pass only: a leaf's gradient that outlives it is read from the device
        try (Arena a = Arena.open()) {
            Tensor leaf = Tensor.of(BE, new float[] {3f}, 1).requiresGrad(true);
            leaf.backward();
            assertEquals(1f, leaf.grad().item());
            BE.scale(1, 4f, leaf.grad().buffer());            // changed in place, as an optimizer's weight decay does
            assertEquals(4f, leaf.grad().item());
        }
    }

    @Test
    void computeGradientReturnsDEWithoutGraph() {
        int b = 8, d = 4;
        int[] y = {0, 0, 1, 1, 2, 2, 3, 3};
        float[] x = randomRows(new Rng(3), b, d);
        TripletOptions o = new TripletOptions(Strategy.BATCH_ALL, Distance.COSINE, 0.2f, false, b);
        try (Arena a = Arena.open()) {
            Tensor e = Tensor.of(BE, x, b, d).requiresGrad(true);
            TripletLoss.Gradient g = TripletLoss.computeGradient(e, y, o);
            assertFalse(g.loss().requiresGrad());
            TripletLoss.compute(e, y, o).loss().backward();
            assertArrayEquals(e.grad().toArray(), g.dE().toArray());
            assertEquals(g.stats().loss(), g.loss().item());
        }
    }

    @Test
    void noGraphUnderNoGrad() {
        try (Arena a = Arena.open(); Autograd.NoGrad ng = Autograd.noGrad()) {
            Tensor e = Tensor.of(BE, randomRows(new Rng(4), 4, 2), 4, 2).requiresGrad(true);
            Tensor loss = TripletLoss.compute(e, new int[] {0, 0, 1, 1}, TripletOptions.facenet(4)).loss();
            assertFalse(loss.requiresGrad());
            assertNull(loss.creator());
        }
    }

    @Test
    void degenerateBatchIsZeroNotNaN() {
        try (Arena a = Arena.open()) {
            Tensor e = Tensor.of(BE, randomRows(new Rng(5), 4, 2), 4, 2).requiresGrad(true);
            TripletLoss.Result r = TripletLoss.compute(e, new int[] {1, 2, 3, 4}, TripletOptions.facenet(4));
            assertTrue(r.stats().degenerate());
            assertEquals(0f, r.loss().item());
            r.loss().backward();
            for (float v : e.grad().toArray()) assertEquals(0f, v);
        }
    }

    @Test
    void badShapesAreClearErrors() {
        try (Arena a = Arena.open()) {
            Tensor e = Tensor.zeros(BE, 4, 2);
            var ex = assertThrows(IllegalArgumentException.class, () -> TripletLoss.compute(e, new int[] {1, 2, 3}, TripletOptions.facenet(4)));
            assertTrue(ex.getMessage().contains("3 labels for 4"), ex.getMessage());
            ex = assertThrows(IllegalArgumentException.class, () -> TripletLoss.compute(e, new int[] {1, 1, 2, 2}, TripletOptions.facenet(5)));
            assertTrue(ex.getMessage().contains("anchorRows"), ex.getMessage());
            ex = assertThrows(IllegalArgumentException.class, () -> TripletLoss.compute(Tensor.zeros(BE, 8), new int[8], TripletOptions.facenet(8)));
            assertTrue(ex.getMessage().contains("[B, D]"), ex.getMessage());
        }
    }

    @Test
    void theGuidesWorkedExampleAgreesWithTheKernel() {
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.out;
        System.setOut(new java.io.PrintStream(buf, true));
        try {
            TripletExample.main(new String[0]);
        } finally {
            System.setOut(old);
        }
        String out = buf.toString();
        assertEquals(3, out.split("\\(matches\\)", -1).length - 1, out);
        assertFalse(out.contains("DIFFERS"), out);
        assertTrue(out.contains("semi-hard found 4, fallbacks 2"), out);   // the numbers quoted in docs/online-triplet-mining.md
    }

    @Test
    void explicitTripletsBackward() {
        int t = 4, d = 3;
        float[] x = randomRows(new Rng(6), 3 * t, d);
        TripletOptions o = new TripletOptions(Strategy.SEMIHARD, Distance.SQUARED_L2, 1.0f, false, 0);
        try (Arena a = Arena.open()) {
            Tensor e = Tensor.of(BE, x, 3 * t, d).requiresGrad(true);
            TripletLoss.Result r = TripletLoss.explicitTriplets(e, o);
            double want = 0;
            for (int i = 0; i < t; i++) {
                double ap = 0, an = 0;
                for (int c = 0; c < d; c++) {
                    ap += Math.pow(x[(3 * i) * d + c] - x[(3 * i + 1) * d + c], 2);
                    an += Math.pow(x[(3 * i) * d + c] - x[(3 * i + 2) * d + c], 2);
                }
                want += Math.max(ap - an + 1.0, 0) / t;
            }
            assertEquals(want, r.loss().item(), 1e-5);
            r.loss().backward();
            assertTrue(e.grad() != null);
            assertThrows(IllegalArgumentException.class, () -> TripletLoss.explicitTriplets(Tensor.zeros(BE, 4, 2), o));
        }
    }
}
