package dev.semihard.engine.conformance;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.OptimizerParams;
import dev.semihard.engine.backend.PoolGeometry;
import dev.semihard.engine.backend.TripletOptions;

/**
 * A backend that forwards every call to another one. Tests subclass it and override one kernel to
 * build deliberately wrong or incomplete candidates, proving that the conformance harness notices.
 */
public class DelegatingBackend implements Backend {
    protected final Backend inner;

    public DelegatingBackend(Backend inner) { this.inner = inner; }

    @Override public String name() { return inner.name(); }
    @Override public String deviceDescription() { return inner.deviceDescription(); }
    @Override public Buffer allocate(long floats) { return inner.allocate(floats); }
    @Override public Buffer allocateUninitialized(long floats) { return inner.allocateUninitialized(floats); }
    @Override public void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n) { inner.upload(src, srcOff, dst, dstOff, n); }
    @Override public void download(Buffer src, long srcOff, float[] dst, int dstOff, int n) { inner.download(src, srcOff, dst, dstOff, n); }
    @Override public void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) { inner.copy(src, srcOff, dst, dstOff, n); }
    @Override public void fill(Buffer dst, long off, long n, float value) { inner.fill(dst, off, n, value); }
    @Override public void synchronize() { inner.synchronize(); }
    @Override public long bytesInUse() { return inner.bytesInUse(); }
    @Override public long peakBytes() { return inner.peakBytes(); }
    @Override public void close() { inner.close(); }
    @Override public void axpy(long n, float alpha, Buffer x, Buffer y) { inner.axpy(n, alpha, x, y); }
    @Override public void scale(long n, float alpha, Buffer x) { inner.scale(n, alpha, x); }
    @Override public void add(long n, Buffer a, Buffer b, Buffer y) { inner.add(n, a, b, y); }
    @Override public void reluForward(long n, Buffer x, Buffer y) { inner.reluForward(n, x, y); }
    @Override public void reluBackward(long n, Buffer y, Buffer dy, Buffer dx) { inner.reluBackward(n, y, dy, dx); }
    @Override public void sumSquares(long n, Buffer x, float[] out) { inner.sumSquares(n, x, out); }
    @Override public void sumSquaresMany(long[] ns, Buffer[] xs, float[] out) { inner.sumSquaresMany(ns, xs, out); }
    @Override public void conv2dForward(ConvGeometry g, Buffer x, Buffer w, Buffer bias, Buffer y) { inner.conv2dForward(g, x, w, bias, y); }
    @Override public void conv2dBackwardData(ConvGeometry g, Buffer dy, Buffer w, Buffer dx) { inner.conv2dBackwardData(g, dy, w, dx); }
    @Override public void conv2dBackwardFilter(ConvGeometry g, Buffer x, Buffer dy, Buffer dw, Buffer dbias) { inner.conv2dBackwardFilter(g, x, dy, dw, dbias); }
    @Override public void maxPool2dForward(PoolGeometry g, Buffer x, Buffer y) { inner.maxPool2dForward(g, x, y); }
    @Override public void maxPool2dBackward(PoolGeometry g, Buffer x, Buffer dy, Buffer dx) { inner.maxPool2dBackward(g, x, dy, dx); }
    @Override public void globalAvgPoolForward(int n, int c, int hw, Buffer x, Buffer y) { inner.globalAvgPoolForward(n, c, hw, x, y); }
    @Override public void globalAvgPoolBackward(int n, int c, int hw, Buffer dy, Buffer dx) { inner.globalAvgPoolBackward(n, c, hw, dy, dx); }
    @Override public void batchNormForwardTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma, Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar) { inner.batchNormForwardTraining(n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar); }
    @Override public void batchNormForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta, Buffer runningMean, Buffer runningVar, Buffer y) { inner.batchNormForwardInference(n, c, hw, eps, x, gamma, beta, runningMean, runningVar, y); }
    @Override public void batchNormBackward(int n, int c, int hw, Buffer x, Buffer dy, Buffer gamma, Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) { inner.batchNormBackward(n, c, hw, x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta); }
    @Override public void batchNormReluForwardTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma, Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar) { inner.batchNormReluForwardTraining(n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar); }
    @Override public void batchNormReluForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta, Buffer runningMean, Buffer runningVar, Buffer y) { inner.batchNormReluForwardInference(n, c, hw, eps, x, gamma, beta, runningMean, runningVar, y); }
    @Override public void batchNormReluBackward(int n, int c, int hw, Buffer x, Buffer y, Buffer dy, Buffer gamma, Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) { inner.batchNormReluBackward(n, c, hw, x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta); }
    @Override public void linearForward(int n, int in, int out, Buffer x, Buffer w, Buffer b, Buffer y) { inner.linearForward(n, in, out, x, w, b, y); }
    @Override public void linearBackwardData(int n, int in, int out, Buffer dy, Buffer w, Buffer dx) { inner.linearBackwardData(n, in, out, dy, w, dx); }
    @Override public void linearBackwardWeight(int n, int in, int out, Buffer x, Buffer dy, Buffer dw, Buffer db) { inner.linearBackwardWeight(n, in, out, x, dy, dw, db); }
    @Override public void l2NormalizeForward(int n, int d, float eps, Buffer x, Buffer y, Buffer norms) { inner.l2NormalizeForward(n, d, eps, x, y, norms); }
    @Override public void l2NormalizeBackward(int n, int d, float eps, Buffer y, Buffer norms, Buffer dy, Buffer dx) { inner.l2NormalizeBackward(n, d, eps, y, norms, dy, dx); }
    @Override public void pairwiseDistanceForward(int n, int d, Distance metric, Buffer e, Buffer dist) { inner.pairwiseDistanceForward(n, d, metric, e, dist); }
    @Override public void pairwiseDistanceBackward(int n, int d, Distance metric, Buffer e, Buffer dist, Buffer dDist, Buffer dE) { inner.pairwiseDistanceBackward(n, d, metric, e, dist, dDist, dE); }
    @Override public void tripletLoss(int b, int d, int[] labels, TripletOptions options, Buffer e, Buffer dE, Buffer stats) { inner.tripletLoss(b, d, labels, options, e, dE, stats); }
    @Override public void sgdUpdate(long n, OptimizerParams.Sgd p, Buffer param, Buffer grad, Buffer velocity) { inner.sgdUpdate(n, p, param, grad, velocity); }
    @Override public void adamUpdate(long n, OptimizerParams.Adam p, Buffer param, Buffer grad, Buffer m, Buffer v) { inner.adamUpdate(n, p, param, grad, m, v); }
    @Override public void adagradUpdate(long n, OptimizerParams.Adagrad p, Buffer param, Buffer grad, Buffer accumulator) { inner.adagradUpdate(n, p, param, grad, accumulator); }
}
