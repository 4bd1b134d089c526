package dev.semihard.engine.backend;

/**
 * Options of the fused triplet-loss kernel.
 *
 * @param strategy    which triplets are used
 * @param distance    the pairwise distance
 * @param margin      hinge margin (>= 0); h(x) = max(x + margin, 0)
 * @param softMargin  use h(x) = log(1 + exp(x)) instead (margin ignored)
 * @param anchorRows  rows [0, anchorRows) may be anchors and positives; rows
 *                    [anchorRows, B) are FaceNet's extra random negatives: they
 *                    only ever serve as negatives. Use B when there are none.
 */
public record TripletOptions(Strategy strategy, Distance distance, float margin, boolean softMargin, int anchorRows) {
    public TripletOptions {
        if (strategy == null || distance == null) throw new IllegalArgumentException("triplet loss: strategy and distance are required");
        if (!(margin >= 0) || Float.isInfinite(margin))
            throw new IllegalArgumentException("triplet loss: margin must be a finite number >= 0, got " + margin);
        if (anchorRows < 0) throw new IllegalArgumentException("triplet loss: anchorRows must be >= 0, got " + anchorRows);
    }

    /** FaceNet's defaults: semi-hard, squared L2, margin 0.2, every row an anchor. */
    public static TripletOptions facenet(int batch) {
        return new TripletOptions(Strategy.SEMIHARD, Distance.SQUARED_L2, 0.2f, false, batch);
    }

    public TripletOptions withAnchorRows(int rows) {
        return new TripletOptions(strategy, distance, margin, softMargin, rows);
    }
}
