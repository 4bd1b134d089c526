package dev.semihard.trainer.cli;

import dev.semihard.trainer.train.TrainConfig;
import picocli.CommandLine.Option;

import java.util.List;

/**
 * {@code --eval-limit}, {@code --recall-k}, {@code --no-plots}: how a model is evaluated (train, eval). Values
 * not given are null, so that {@code train} keeps a preset's; the defaults are {@link TrainConfig}'s.
 */
public final class EvalOptionsMixin {
    @Option(names = "--eval-limit", paramLabel = "N", description = "evaluate on the first N test images only (default: all)")
    public Integer evalLimit;

    @Option(names = "--recall-k", paramLabel = "K", split = ",", description = "K values of Recall@K (default 1,2,4,8)")
    public List<Integer> recallK;

    @Option(names = "--no-plots", description = "skip the PNG plots")
    public boolean noPlots;

    /** Copies what was given into {@code c}. */
    public void applyTo(TrainConfig c) {
        if (evalLimit != null) c.evalLimit = evalLimit;
        if (recallK != null) c.recallK = recallK;
        if (noPlots) c.plots = false;
    }
}
