package dev.semihard.trainer.cli;

import dev.semihard.trainer.train.TrainConfig;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --data} and {@code --strict}: where the images come from (train, eval, embed). */
public final class DataOptionsMixin {
    @Option(names = "--data", paramLabel = "DIR", description = "a pack (semihard pack), IDX folder (Fashion-MNIST), image folder (one sub-folder per identity), packed once into a cache, "
            + "or LFW folder with pairs.txt; default /usr/share/datasets/fashion-mnist, else an embedded subset")
    public Path data;

    @Option(names = "--strict", description = "stop at the first file that is not a decodable image (default: skip it with a warning)")
    public boolean strict;

    /** Copies what was given into {@code c} (the folder as an absolute path: config.json must not depend on the working folder). */
    public void applyTo(TrainConfig c) {
        if (data != null) c.data = data.toAbsolutePath().toString();
        if (strict) c.strict = true;
    }
}
