package dev.semihard.trainer.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How many batches re-estimate the batch-norm statistics: by default as many as the model was trained
 * on, at most 50; an explicit --bn-recalibrate N means N; "auto" survives config.json (resume).
 */
class BnRecalibrateRuleTest {
    @Test
    void theDefaultIsOneBatchPerStepTrainedAtMostFifty() {
        TrainConfig c = new TrainConfig();
        assertEquals(TrainConfig.BN_RECALIBRATE_AUTO, c.bnRecalibrate);
        assertEquals(1, c.bnRecalibrateBatches(1));
        assertEquals(10, c.bnRecalibrateBatches(10), "the default 10-step run: 10 batches, not 50");
        assertEquals(50, c.bnRecalibrateBatches(50));
        assertEquals(50, c.bnRecalibrateBatches(375), "recipe Q's length keeps 50");
        assertEquals(0, c.bnRecalibrateBatches(0));
    }

    @Test
    void anExplicitCountMeansThatCount() {
        TrainConfig c = new TrainConfig();
        c.bnRecalibrate = TrainConfig.parseBnRecalibrate("50");
        assertEquals(50, c.bnRecalibrateBatches(10), "--bn-recalibrate 50 on a 10-step run still means 50");
        c.bnRecalibrate = TrainConfig.parseBnRecalibrate("80");
        assertEquals(80, c.bnRecalibrateBatches(375), "above the automatic cap when asked");
        c.bnRecalibrate = TrainConfig.parseBnRecalibrate("0");
        assertEquals(0, c.bnRecalibrateBatches(375), "0 = off");
        assertEquals(TrainConfig.BN_RECALIBRATE_AUTO, TrainConfig.parseBnRecalibrate(" Auto "));
    }

    @Test
    void recipeQKeepsFiftyBatches() {
        TrainConfig q = TrainConfig.recipeQ();
        assertEquals(375, q.steps);
        assertEquals(50, q.bnRecalibrateBatches(q.steps));
    }

    @Test
    void badValuesNameTheOptionAndTheAllowedValues() {
        for (String bad : new String[]{"-1", "-2", "many", "", "1.5"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.parseBnRecalibrate(bad), bad);
            assertTrue(e.getMessage().contains("--bn-recalibrate must be >= 0 (0 = off) or auto"), e.getMessage());
        }
        TrainConfig c = new TrainConfig();
        c.bnRecalibrate = -7;
        assertThrows(IllegalArgumentException.class, c::validate);
    }

    @Test
    void autoAndExplicitCountsSurviveConfigJson() {
        TrainConfig auto = new TrainConfig();
        assertTrue(auto.toJson().contains("\"bn_recalibrate\":\"auto\""), auto.toJson());
        assertEquals(TrainConfig.BN_RECALIBRATE_AUTO, TrainConfig.fromJson(auto.toJson()).bnRecalibrate);
        TrainConfig seven = new TrainConfig();
        seven.bnRecalibrate = 7;
        assertEquals(7, TrainConfig.fromJson(seven.toJson()).bnRecalibrate);
        assertEquals(50, TrainConfig.fromJson("{\"bn_recalibrate\":50}").bnRecalibrate, "a run folder of an earlier version keeps its 50");
    }
}
