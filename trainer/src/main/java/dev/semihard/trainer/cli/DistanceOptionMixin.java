package dev.semihard.trainer.cli;

import dev.semihard.trainer.train.TrainConfig;
import picocli.CommandLine.Option;

/** {@code --distance} (train: mining, loss and evaluation; eval): null when not given, so a preset's stays. */
public final class DistanceOptionMixin {
    @Option(names = "--distance", paramLabel = "D", description = "embedding distance: squared-l2, l2 or cosine (default squared-l2)")
    public String distance;

    /** Copies the distance into {@code c} when it was given. */
    public void applyTo(TrainConfig c) {
        if (distance != null) c.distance = distance;
    }
}
