package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Strategy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which triplet backward version the CUDA backend picks (no GPU needed: host logic only). */
class TripletBackwardChoiceTest {
    @AfterEach
    void clear() { System.clearProperty(CudaBackend.BACKWARD_PROPERTY); }

    @Test
    void maxPositivesCountsOnlyAnchorRows() {
        assertEquals(2, CudaBackend.maxPositives(new int[]{4, 4, 9, 4, 9}, 5));
        assertEquals(1, CudaBackend.maxPositives(new int[]{4, 4, 9, 4, 9}, 3), "rows past the anchors are extra negatives");
        assertEquals(0, CudaBackend.maxPositives(new int[]{1, 2, 3}, 3));
        assertEquals(1, CudaBackend.maxPositives(new int[]{Integer.MIN_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE}, 3),
                "labels far apart take the map path");
    }

    @Test
    void symUnlessBatchAllOrTooManyPositives() {
        int[] pk = new int[64];
        for (int i = 0; i < pk.length; i++) pk[i] = i % 8;
        assertEquals(CudaBackend.TripletBackward.SYM, CudaBackend.tripletBackward(Strategy.SEMIHARD, pk, 64));
        assertEquals(CudaBackend.TripletBackward.SYM, CudaBackend.tripletBackward(Strategy.BATCH_HARD, pk, 64));
        assertEquals(CudaBackend.TripletBackward.DENSE, CudaBackend.tripletBackward(Strategy.BATCH_ALL, pk, 64));
        int[] big = new int[CudaBackend.MINE_CAP + 2];                   // 513 positives per anchor
        assertEquals(CudaBackend.TripletBackward.SPLIT, CudaBackend.tripletBackward(Strategy.SEMIHARD, big, big.length),
                "more than CAP positives: a round would add to S more than twice");
        int[] atCap = Arrays.copyOf(big, CudaBackend.MINE_CAP + 1);      // 512 positives: one round
        assertEquals(CudaBackend.TripletBackward.SYM, CudaBackend.tripletBackward(Strategy.SEMIHARD, atCap, atCap.length));
    }

    @Test
    void thePropertyChoosesAndRejectsUnknownValues() {
        int[] pk = {0, 0, 1, 1};
        System.setProperty(CudaBackend.BACKWARD_PROPERTY, "split");
        assertEquals(CudaBackend.TripletBackward.SPLIT, CudaBackend.tripletBackward(Strategy.SEMIHARD, pk, 4));
        System.setProperty(CudaBackend.BACKWARD_PROPERTY, "dense");
        assertEquals(CudaBackend.TripletBackward.DENSE, CudaBackend.tripletBackward(Strategy.BATCH_HARD, pk, 4));
        System.setProperty(CudaBackend.BACKWARD_PROPERTY, "fast");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaBackend.tripletBackward(Strategy.SEMIHARD, pk, 4));
        assertTrue(e.getMessage().contains("sym, split or dense"), e.getMessage());
    }
}
