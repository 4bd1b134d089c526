package dev.semihard.engine.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LrScheduleTest {
    @Test
    void constant() {
        LrSchedule s = LrSchedule.parse("constant", 0.01f, 100);
        assertEquals(0.01f, s.lr(0));
        assertEquals(0.01f, s.lr(99));
    }

    @Test
    void step() {
        LrSchedule s = LrSchedule.parse("step:1000:0.1", 1f, 5000);
        assertEquals(1f, s.lr(0), 1e-7);
        assertEquals(1f, s.lr(999), 1e-7);
        assertEquals(0.1f, s.lr(1000), 1e-7);
        assertEquals(0.01f, s.lr(2500), 1e-8);
    }

    @Test
    void cosineWithWarmup() {
        LrSchedule s = LrSchedule.parse("cosine:warmup=100", 1f, 1100);
        assertEquals(0.01f, s.lr(0), 1e-7, "first warm-up step");
        assertEquals(0.5f, s.lr(49), 1e-7);
        assertEquals(1f, s.lr(99), 1e-7, "warm-up reaches the base rate");
        assertEquals(1f, s.lr(100), 1e-7, "cosine starts at the base rate");
        assertEquals(0.5f, s.lr(600), 1e-6, "half way");
        assertEquals(0f, s.lr(1100), 1e-7, "ends at min");
        assertEquals(0f, s.lr(5000), 1e-7, "stays at min");
        assertTrue(s.lr(300) > s.lr(301));
    }

    @Test
    void cosineWithMinAndNoWarmup() {
        LrSchedule s = LrSchedule.parse("cosine:warmup=0,min=0.1", 1f, 10);
        assertEquals(1f, s.lr(0), 1e-7);
        assertEquals(0.55f, s.lr(5), 1e-6);
        assertEquals(0.1f, s.lr(10), 1e-7);
        assertEquals(LrSchedule.cosine(1f, 0, 10, 0.1f).lr(3), s.lr(3));
    }

    @Test
    void badSpecsNameTheFix() {
        for (String bad : new String[]{"linear", "step:0:0.1", "step:100", "cosine:warmup=x", "cosine:foo=1", "constant:3", ""}) {
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> LrSchedule.parse(bad, 0.1f, 100), bad);
            assertTrue(ex.getMessage().contains("step") || ex.getMessage().contains("schedule"), ex.getMessage());
        }
    }
}
