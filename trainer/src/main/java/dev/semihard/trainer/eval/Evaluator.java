package dev.semihard.trainer.eval;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Autograd;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.trainer.data.Dataset;
import dev.semihard.trainer.data.Pairs;
import dev.semihard.trainer.plot.Plots;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Embeds an evaluation set with a model in eval mode and computes every metric of {@link Metrics}. */
public final class Evaluator {
    private Evaluator() {}

    /** Number of generated pairs of each kind (docs/benchmarks.md recipe Q). */
    public static final int PAIRS_PER_KIND = 3000;
    public static final int FOLDS = 10;

    /** Everything an evaluation produced. */
    public record Result(Metrics.Retrieval retrieval, Metrics.Verification verification, double[] pairDist, boolean[] pairSame,
                         String distance, int images, double seconds) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("images", images);
            m.put("distance", distance);
            for (int i = 0; i < retrieval.ks().length; i++) m.put("recall_at_" + retrieval.ks()[i], retrieval.recall()[i]);
            m.put("map_at_r", retrieval.mapAtR());
            m.put("queries", retrieval.queries());
            m.put("verification_accuracy", verification.accuracy());
            m.put("verification_accuracy_std", verification.accuracyStd());
            m.put("val_at_far_1e-3", verification.valAt1e3());
            m.put("val_at_far_1e-2", verification.valAt1e2());
            m.put("roc_auc", verification.auc());
            m.put("eer", verification.eer());
            m.put("pairs_same", verification.same());
            m.put("pairs_diff", verification.diff());
            m.put("fold_thresholds", verification.foldThreshold());
            m.put("seconds", seconds);
            return m;
        }

        /** One line for the terminal. */
        public String summary() {
            return String.format("Recall@1 %.4f  MAP@R %.4f  verification %.4f +- %.4f  VAL@FAR=1e-3 %.4f  VAL@FAR=1e-2 %.4f  AUC %.4f  EER %.4f",
                    retrieval.recall()[0], retrieval.mapAtR(), verification.accuracy(), verification.accuracyStd(),
                    verification.valAt1e3(), verification.valAt1e2(), verification.auc(), verification.eer());
        }
    }

    /**
     * Embeddings [n, D] of every image of {@code data}, in eval mode and without a graph, {@code chunk} images at a time
     * (the centered window of the model's input size when the images are stored larger).
     */
    public static float[] embed(EmbeddingModel model, Dataset data, Backend backend, int chunk) {
        boolean wasTraining = model.isTraining();
        model.train(false);
        int[] shape = model.inputShape();
        int n = data.size(), per = shape[0] * shape[1] * shape[2], d = model.embeddingDim();
        float[] out = new float[n * d];
        try (Autograd.NoGrad g = Autograd.noGrad()) {
            for (int s = 0; s < n; s += chunk) {
                int m = Math.min(chunk, n - s);
                float[] x = new float[m * per];
                for (int i = 0; i < m; i++) data.copyCentered(s + i, shape[1], shape[2], x, i * per);
                try (Arena a = Arena.open()) {
                    Tensor xt = Tensor.of(backend, x, m, shape[0], shape[1], shape[2]);
                    Tensor e = model.forward(xt);
                    float[] ev = e.toArray();
                    System.arraycopy(ev, 0, out, s * d, m * d);
                }
            }
        } finally {
            model.train(wasTraining);
        }
        return out;
    }

    /**
     * Evaluates embeddings {@code e} ([n, d]) with labels: retrieval over all rows, verification on
     * {@code pairs} (or {@link #PAIRS_PER_KIND} of each kind drawn with {@link Pairs#PAIR_SEED}).
     */
    public static Result evaluate(float[] e, int n, int d, int[] labels, List<Pairs.Pair> pairs, Distance metric, int[] recallK) {
        long t0 = System.nanoTime();
        Metrics.Retrieval r = Metrics.retrieval(e, n, d, labels, recallK, metric);
        List<Pairs.Pair> ps = pairs != null ? pairs : Pairs.generate(labels, PAIRS_PER_KIND, PAIRS_PER_KIND, FOLDS, Pairs.PAIR_SEED);
        double[] dist = new double[ps.size()];
        boolean[] same = new boolean[ps.size()];
        int[] fold = new int[ps.size()];
        int folds = 1;
        for (int i = 0; i < ps.size(); i++) {
            Pairs.Pair p = ps.get(i);
            dist[i] = Metrics.distance(e, d, p.a(), p.b(), metric);
            same[i] = p.same();
            fold[i] = p.fold();
            folds = Math.max(folds, p.fold() + 1);
        }
        Metrics.Verification v = Metrics.verification(dist, same, fold, folds);
        return new Result(r, v, dist, same, metric.cliName, n, (System.nanoTime() - t0) / 1e9);
    }

    /** Writes roc.png and distances.png into {@code dir}. */
    public static void plots(Result res, Path dir) throws IOException {
        double[][] roc = Metrics.roc(res.pairDist(), res.pairSame());
        Plots.roc(dir.resolve("roc.png"), roc[0], roc[1], res.verification().auc());
        int ns = 0;
        for (boolean s : res.pairSame()) if (s) ns++;
        double[] sd = new double[ns], dd = new double[res.pairSame().length - ns];
        int a = 0, b = 0;
        for (int i = 0; i < res.pairSame().length; i++) {
            if (res.pairSame()[i]) sd[a++] = res.pairDist()[i]; else dd[b++] = res.pairDist()[i];
        }
        double thr = 0;
        for (double t : res.verification().foldThreshold()) thr += t;
        thr /= Math.max(1, res.verification().foldThreshold().length);
        Plots.distanceHistograms(dir.resolve("distances.png"), sd, dd, res.distance(), thr);
    }
}
