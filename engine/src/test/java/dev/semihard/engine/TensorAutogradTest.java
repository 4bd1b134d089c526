package dev.semihard.engine;

import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.conformance.DelegatingBackend;
import dev.semihard.engine.ops.F;
import dev.semihard.engine.ops.GradCheck;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The graph walk itself: accumulation, intermediates, no-grad, arenas, gradient buffers handed over (adopted). */
class TensorAutogradTest {
    private final ReferenceBackend be = new ReferenceBackend();

    @Test
    void backwardTwiceAccumulatesExactlyTwiceIntoLeaves() {
        try (Arena a = Arena.open()) {
            Tensor x = Tensor.of(be, new float[]{-1f, 2f, 3f}, 1, 3).requiresGrad(true);
            Tensor y = F.relu(F.add(x, x));           // d sum(y)/dx = 2 where x > 0
            Tensor w = Tensor.of(be, new float[]{1f, 1f, 1f}, 1, 3);
            Tensor s = F.linear(y, w, null);           // scalar [1, 1]
            s.backward();
            assertArrayEquals(new float[]{0f, 2f, 2f}, x.grad().toArray());
            s.backward();
            assertArrayEquals(new float[]{0f, 4f, 4f}, x.grad().toArray(), "second backward adds one more gradient");
            assertNull(y.grad(), "intermediate gradients are consumed by the walk");
        }
    }

    @Test
    void noGradRecordsNothing() {
        try (Arena a = Arena.open(); var g = Autograd.noGrad()) {
            Tensor x = Tensor.of(be, new float[]{1f, 2f}, 1, 2).requiresGrad(true);
            Tensor y = F.relu(x);
            assertNull(y.creator());
            assertFalse(y.requiresGrad());
        }
    }

    @Test
    void arenaReturnsEveryBuffer() {
        long before = be.bytesInUse();
        try (Arena a = Arena.open()) {
            Tensor x = Tensor.zeros(be, 4, 4);
            F.relu(x);
            assertTrue(be.bytesInUse() > before);
        }
        assertEquals(before, be.bytesInUse());
    }

    // ------------------------------------------------------------------ gradient adoption

    /** Counts the copies and allocations a backward pass makes. */
    static final class Counting extends DelegatingBackend {
        int copies, allocations;
        Counting(ReferenceBackend inner) { super(inner); }
        @Override public void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) { copies++; super.copy(src, srcOff, dst, dstOff, n); }
        @Override public Buffer allocate(long floats) { allocations++; return super.allocate(floats); }
        @Override public Buffer allocateUninitialized(long floats) { allocations++; return super.allocateUninitialized(floats); }
    }

    /**
     * Every first gradient of a chain of ops is the op's own temporary (or the output gradient) handed
     * over: no copy at all, and one allocation per gradient instead of two (temporary + copy).
     */
    @Test
    void firstGradientsAreAdoptedWithoutCopies() {
        Counting cb = new Counting(new ReferenceBackend());
        Parameter w = new Parameter("w", cb, 4, 6), b = new Parameter("b", cb, 4);
        w.set(new float[]{1, -2, 3, 0.5f, -1, 2, 0, 1, -1, 1, 2, -3, 0.25f, 0.5f, -0.5f, 1, 1, 1, -2, 1, 0, 3, -1, 2});
        b.set(new float[]{0.1f, -0.2f, 0.3f, -0.4f});
        try (Arena a = Arena.open()) {
            Tensor x = Tensor.of(cb, new float[]{1, 2, -1, 0.5f, 3, -2, 0, 1, 1, -1, 2, 0.25f}, 2, 1, 2, 3).requiresGrad(true);
            Tensor h = F.relu(F.linear(F.flatten(x), w, b));      // reshape view, linear, relu
            Tensor s = F.linear(h, Tensor.of(cb, new float[]{1, 1, 1, 1}, 1, 4), null);
            Tensor seed = Tensor.of(cb, new float[]{1, -1}, 2, 1);
            cb.copies = 0;
            cb.allocations = 0;
            s.backward(seed);
            assertEquals(1, cb.copies, "only the seed (the caller's tensor) is copied; every other first gradient is adopted");
            // seed copy (1 grad buffer): dh, dx, dw, db temporaries (4); relu in place, reshape hands its gradient over
            assertEquals(5, cb.allocations, "allocations during backward");
            assertNotNull(x.grad());
            assertArrayEquals(new int[]{2, 1, 2, 3}, x.grad().shape(), "the adopted gradient has x's shape, not the flattened view's");
        }
        assertNotNull(w.grad(), "parameter gradients survive the step's arena");
        assertFalse(w.grad().isClosed());
        w.zeroGrad();
        b.zeroGrad();
    }

    /**
     * One tensor feeding two consumers (and a parameter used twice): the first consumer's gradient is
     * adopted, the second is added into it; the result must be the sum, checked by finite differences
     * in double precision, and the adopted buffer must not be one the other consumer still uses.
     */
    @Test
    void twoConsumersAccumulateCorrectlyAfterAdoption() {
        ReferenceBackend rb = new ReferenceBackend();
        GradCheck gc = new GradCheck(rb, 31);
        Tensor x = gc.leaf(gc.awayFromZero(12, 0.1, 1.0), 3, 4);
        Tensor w = gc.leaf(4, 4), b = gc.leaf(4), w2 = gc.leaf(4, 4);
        // h feeds relu, a second linear and a reshape (a view); x feeds the first linear and the add;
        // w is used by two linears
        gc.check("two consumers", () -> {
            Tensor h = F.linear(x, w, b);
            Tensor r = F.relu(h);
            Tensor l = F.linear(h, w2, null);
            Tensor v = F.flatten(h.reshape(3, 2, 2));
            Tensor u = F.linear(r, w, null);
            return F.add(F.add(F.add(r, l), F.add(u, v)), x);
        }, List.of(x, w, b, w2));
    }

    /** Two backward passes in two arenas (two-pass training): the adopted parameter gradient outlives the first arena. */
    @Test
    void adoptedParameterGradientsSurviveTheArenaAndAccumulate() {
        ReferenceBackend rb = new ReferenceBackend();
        Parameter w = new Parameter("w", rb, 2, 3);
        w.set(new float[]{1, 2, 3, -1, 0.5f, 2});
        float[] x1 = {1, 0, 2, -1, 1, 1}, x2 = {0.5f, -2, 1, 3, 0, -1};
        long before = rb.bytesInUse();
        for (float[] xv : List.of(x1, x2)) {
            try (Arena a = Arena.open()) {
                Tensor s = F.linear(F.linear(Tensor.of(rb, xv, 2, 3), w, null), Tensor.of(rb, new float[]{1, 1}, 1, 2), null);
                s.backward(Tensor.of(rb, new float[]{1, 1}, 2, 1));
            }
        }
        // dL/dw[o, i] = sum over rows of x[row, i], over both passes (every output weight 1)
        float[] want = new float[6];
        for (float[] xv : List.of(x1, x2))
            for (int o = 0; o < 2; o++) for (int i = 0; i < 3; i++) want[o * 3 + i] += xv[i] + xv[3 + i];
        assertArrayEquals(want, w.grad().toArray(), 1e-6f);
        w.zeroGrad();
        assertEquals(before, rb.bytesInUse(), "no buffer is leaked or freed twice by the hand-over");
    }

    @Test
    void handingOverAViewOrAKeptTensorCopiesInstead() {
        ReferenceBackend rb = new ReferenceBackend();
        try (Arena a = Arena.open()) {
            Tensor t = Tensor.zeros(rb, 2, 2).requiresGrad(true);
            Tensor kept = Tensor.of(rb, new float[]{1, 2, 3, 4}, 2, 2);
            Tensor view = kept.reshape(4);                 // does not own its buffer
            t.accumulateGradOwned(view);
            assertNotSame(kept.buffer(), t.grad().buffer(), "a view's buffer is never adopted");
            assertArrayEquals(new float[]{1, 2, 3, 4}, kept.toArray(), "the viewed tensor is intact");
            rb.fill(t.grad().buffer(), 0, 4, 0f);
            assertArrayEquals(new float[]{1, 2, 3, 4}, kept.toArray(), "and independent of the gradient");
            Tensor g = Tensor.of(rb, new float[]{1, 1, 1, 1}, 4);
            t.accumulateGradOwned(g);                      // t has a gradient now: added, then g is closed
            assertArrayEquals(new float[]{1, 1, 1, 1}, t.grad().toArray());
            assertTrue(g.isClosed());
        }
    }
}
