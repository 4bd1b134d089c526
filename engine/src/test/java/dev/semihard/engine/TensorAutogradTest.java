package dev.semihard.engine;

import dev.semihard.engine.ops.F;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The graph walk itself: accumulation, intermediates, no-grad, arenas. */
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
}
