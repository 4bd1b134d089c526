package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.trainer.data.DataSources;
import dev.semihard.trainer.data.Dataset;
import dev.semihard.trainer.eval.Evaluator;
import dev.semihard.trainer.io.Npy;
import dev.semihard.trainer.util.Log;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code semihard embed}: writes embeddings and labels as NumPy files. */
@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Embed a data set with a checkpoint and write embeddings.npy (float32 [N, D], D = 128 unless trained with"
                + " --embedding-dim) and labels.npy (int64 [N]).",
                "Load them with numpy.load."})
public final class EmbedCommand implements Callable<Integer> {
    enum Split { train, test }

    @Spec
    CommandSpec spec;

    @Mixin
    BackendOptionsMixin backendOptions;

    @Mixin
    CheckpointParameterMixin checkpoint;

    @Mixin
    DataOptionsMixin dataOptions;

    @Option(names = "--split", paramLabel = "SPLIT", defaultValue = "test", description = "train or test (default ${DEFAULT-VALUE})")
    Split split;

    @Option(names = "--limit", paramLabel = "N", defaultValue = "0", description = "first N images only (0 = all)")
    int limit;

    @Option(names = "--save-inputs", description = "also write inputs.npy (float32 [N, C, H, W]): the images as the model saw them"
            + " (resized, normalized), for checking the embeddings in PyTorch (trainer/python/verify_checkpoint.py)")
    boolean saveInputs;

    @Option(names = {"--out", "-o"}, paramLabel = "DIR", defaultValue = ".", description = "output folder (default: current)")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (limit < 0) throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--limit must be >= 0");
        Path file = checkpoint.file();
        try (Backend backend = backendOptions.create(); EmbeddingModel model = ModelLoading.load(file, backend, null)) {
            DataSources.Data d = DataSources.resolve(dataOptions.data, model.inputShape(), dataOptions.strict);
            Dataset ds = split == Split.train ? d.train() : d.test();
            if (ds == null) throw new dev.semihard.trainer.data.DataException("the " + split + " split of " + d.description() + " is empty");
            if (limit > 0) ds = ds.head(limit);
            Log.info("embedding " + ds + " with " + model.name() + " on " + backend.name());
            float[] e = Evaluator.embed(model, ds, backend, 256);
            Files.createDirectories(out);
            Npy.writeFloat(out.resolve("embeddings.npy"), e, ds.size(), model.embeddingDim());
            Npy.writeLong(out.resolve("labels.npy"), ds.labels());
            if (saveInputs) {
                int per = ds.imageSize();
                float[] x = new float[Math.multiplyExact(ds.size(), per)];
                for (int i = 0; i < ds.size(); i++) ds.copyNormalized(i, x, i * per);
                Npy.writeFloat(out.resolve("inputs.npy"), x, ds.size(), ds.channels(), ds.height(), ds.width());
            }
            spec.commandLine().getOut().println("wrote " + out.resolve("embeddings.npy") + " [" + ds.size() + ", " + model.embeddingDim()
                    + "] and " + out.resolve("labels.npy"));
        }
        return 0;
    }
}
