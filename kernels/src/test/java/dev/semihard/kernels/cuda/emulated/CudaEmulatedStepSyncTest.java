package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Parameter;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.conformance.TrainingSteps;
import dev.semihard.kernels.FullSuite;
import dev.semihard.kernels.cuda.emulated.Shemu.DriverCall;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 6's runtime rules, counted at the driver (the emulator counts every call): a training step
 * after the first, in the trainer's order (fmnist-cnn forward, semi-hard loss, backward, the
 * gradients' non-finite check and norm, SGD with momentum or Adam, zeroGrad), makes no
 * {@code cuMemAlloc} and no {@code cuMemFree} (the caching allocator serves it), no synchronous
 * upload, and waits for the device exactly twice, for what the log reads: the loss statistics and
 * the gradient check ({@code sumSquaresMany}, one read for every parameter). Everything else is
 * queued on the one stream.
 *
 * <p>Full test tier only ({@link FullSuite}): eight fmnist-cnn steps on the emulator take minutes; every kernel
 * they launch is also checked by the quick tier's {@code CudaEmulatedConformanceTest}.
 */
@FullSuite
class CudaEmulatedStepSyncTest {
    static final int STEPS = 4;

    private static List<Map<DriverCall, Long>> steps(Backend be, String optimizer) {
        List<Map<DriverCall, Long>> perStep = new ArrayList<>();
        try (TrainingSteps.Fixture f = TrainingSteps.Fixture.open(be, optimizer, 11)) {
            for (int s = 0; s < STEPS; s++) {
                Map<DriverCall, Long> before = Shemu.driverCounts();
                float loss;
                try (Arena a = Arena.open()) {
                    Tensor e = f.model().forward(f.x());
                    TripletLoss.Result res = TripletLoss.compute(e, f.labels(), f.options());
                    res.loss().backward();
                    List<Parameter> ps = f.model().parameters();
                    float[] sums = Parameter.gradientSumSquares(ps);    // Trainer.step: non-finite check and gradient norm
                    for (int i = 0; i < ps.size(); i++) assertEquals(0f, sums[2 * i + 1], "non-finite gradient");
                    f.opt().step();
                    f.opt().zeroGrad();
                    loss = res.stats().loss();          // what a training loop logs
                }
                perStep.add(Shemu.delta(before, Shemu.driverCounts()));
                assertTrue(Float.isFinite(loss) && loss > 0, "loss " + loss);
            }
        }
        return perStep;
    }

    private static void check(String optimizer) {
        List<Map<DriverCall, Long>> perStep;
        try (Backend be = Shemu.openOrSkip()) {
            perStep = steps(be, optimizer);
        }
        for (int s = 1; s < STEPS; s++) {
            Map<DriverCall, Long> d = perStep.get(s);
            String at = optimizer + ", step " + (s + 1) + ": " + d;
            assertTrue(d.get(DriverCall.LAUNCH) > 20, "the step ran its kernels: " + at);
            assertEquals(0L, d.get(DriverCall.MEM_ALLOC), "cuMemAlloc inside a step after the first: " + at);
            assertEquals(0L, d.get(DriverCall.MEM_FREE), "cuMemFree inside a step: " + at);
            assertEquals(0L, d.get(DriverCall.ALLOC_HOST), "pinned allocation inside a step: " + at);
            assertEquals(0L, d.get(DriverCall.CTX_SYNC), "cuCtxSynchronize inside a step: " + at);
            assertEquals(0L, d.get(DriverCall.HTOD), "a synchronous upload inside a step: " + at);
            assertEquals(2L, d.get(DriverCall.STREAM_SYNC), "host waits inside a step (the loss statistics, the gradient check): " + at);
            assertEquals(2L, d.get(DriverCall.DTOH), "device-to-host reads inside a step (the loss statistics, the gradient check): " + at);
            assertEquals(0L, d.get(DriverCall.EVENT_SYNC), "staging waits inside a step: " + at);
        }
    }

    @Test
    void stepsAfterTheFirstAllocateNothingAndWaitOnlyForTheLoggedLossWithSgd() {
        check("sgd");
    }

    @Test
    void stepsAfterTheFirstAllocateNothingAndWaitOnlyForTheLoggedLossWithAdam() {
        check("adam");
    }
}
