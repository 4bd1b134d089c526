package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.trainer.data.DataSources;
import dev.semihard.trainer.data.Dataset;
import dev.semihard.trainer.eval.Evaluator;
import dev.semihard.trainer.io.AtomicFiles;
import dev.semihard.engine.util.Json;
import dev.semihard.trainer.util.Log;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code semihard eval}: scores a checkpoint on the evaluation set. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Evaluate a checkpoint: Recall@K, MAP@R, 10-fold verification accuracy, VAL@FAR=1e-3/1e-2, ROC AUC, EER.",
                "Uses pairs.txt on LFW-style data, otherwise 3000 + 3000 pairs drawn with a fixed seed."})
public final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BackendOptionsMixin backendOptions;

    @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "run folder or checkpoint.safetensors / model.safetensors")
    Path checkpoint;

    @Option(names = "--data", paramLabel = "DIR", description = "data folder (default: Fashion-MNIST, as in train)")
    Path data;

    @Option(names = "--strict", description = "stop at the first undecodable image")
    boolean strict;

    @Option(names = "--distance", paramLabel = "D", defaultValue = "squared-l2", description = "squared-l2, l2 or cosine (default ${DEFAULT-VALUE})")
    String distance;

    @Option(names = "--eval-limit", paramLabel = "N", defaultValue = "0", description = "first N test images only (0 = all)")
    int evalLimit;

    @Option(names = "--recall-k", paramLabel = "K", split = ",", defaultValue = "1,2,4,8", description = "K values of Recall@K")
    List<Integer> recallK;

    @Option(names = "--out", paramLabel = "DIR", description = "where eval.json and the plots go (default: the checkpoint's folder)")
    Path out;

    @Option(names = "--no-plots", description = "skip roc.png and distances.png")
    boolean noPlots;

    @Override
    public Integer call() throws Exception {
        Distance metric;
        try {
            metric = Distance.parse(distance);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (evalLimit < 0) throw new ParameterException(spec.commandLine(), "--eval-limit must be >= 0");
        for (int k : recallK) if (k < 1) throw new ParameterException(spec.commandLine(), "--recall-k values must be >= 1");
        Path file = ModelLoading.checkpointFile(checkpoint);
        Path dir = out != null ? out : file.toAbsolutePath().getParent();
        try (Backend backend = backendOptions.create(); EmbeddingModel model = ModelLoading.load(file, backend, null)) {
            DataSources.Data d = DataSources.resolve(data, model.inputShape(), strict);
            Dataset test = d.test();
            if (evalLimit > 0 && d.pairs() == null) test = test.head(evalLimit);
            Log.info("evaluating " + model.name() + " from " + file + " on " + test + " (" + backend.name() + ")");
            float[] e = Evaluator.embed(model, test, backend, 256);
            Evaluator.Result r = Evaluator.evaluate(e, test.size(), model.embeddingDim(), test.labels(), d.pairs(), metric,
                    recallK.stream().mapToInt(Integer::intValue).toArray());
            Files.createDirectories(dir);
            AtomicFiles.write(dir.resolve("eval.json"), (Json.write(r.toMap()) + "\n").getBytes(StandardCharsets.UTF_8));
            if (!noPlots) Evaluator.plots(r, dir);
            var o = spec.commandLine().getOut();
            for (int i = 0; i < r.retrieval().ks().length; i++)
                o.println(String.format("Recall@%-3d            %.4f", r.retrieval().ks()[i], r.retrieval().recall()[i]));
            o.println(String.format("MAP@R                 %.4f", r.retrieval().mapAtR()));
            o.println(String.format("verification acc.     %.4f +- %.4f (%d same, %d different pairs, 10 folds)",
                    r.verification().accuracy(), r.verification().accuracyStd(), r.verification().same(), r.verification().diff()));
            o.println(String.format("VAL@FAR=1e-3          %.4f", r.verification().valAt1e3()));
            o.println(String.format("VAL@FAR=1e-2          %.4f", r.verification().valAt1e2()));
            o.println(String.format("ROC AUC               %.4f", r.verification().auc()));
            o.println(String.format("EER                   %.4f", r.verification().eer()));
            o.println("written               " + dir.resolve("eval.json"));
            o.flush();
        }
        return 0;
    }
}
