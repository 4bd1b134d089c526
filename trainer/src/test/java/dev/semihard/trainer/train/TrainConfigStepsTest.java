package dev.semihard.trainer.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** How many steps a run takes: --steps, --epochs, or the default epochs (more on the small embedded subset). */
class TrainConfigStepsTest {
    @Test
    void defaultEpochsDependOnTheData() {
        TrainConfig c = new TrainConfig();                         // P = 10, K = 32: batches of 320
        assertEquals(375, c.totalSteps(60_000, false), "2 epochs of the full Fashion-MNIST");
        assertEquals(38, c.totalSteps(6_000, false));
        assertEquals(300, c.totalSteps(6_000, true), "16 epochs of the embedded 6,000 images");
    }

    @Test
    void explicitEpochsOrStepsWin() {
        TrainConfig c = new TrainConfig();
        c.epochs = 2;
        assertEquals(38, c.totalSteps(6_000, true), "--epochs 2 is 2 epochs, embedded or not");
        c.steps = 7;
        assertEquals(7, c.totalSteps(6_000, true));
        c.steps = 0;
        c.epochs = -1;
        assertThrows(IllegalArgumentException.class, c::validate);
    }
}
