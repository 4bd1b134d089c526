package dev.semihard.trainer.plot;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;

/** PNG charts for a run folder, drawn headless with XChart. */
public final class Plots {
    private Plots() {}

    static {
        System.setProperty("java.awt.headless", "true");
    }

    /** Training loss (left axis) and active-triplet fraction (right axis) per step. */
    public static void training(Path png, double[] steps, double[] loss, double[] activeFraction, String title) throws IOException {
        XYChart c = new XYChartBuilder().width(900).height(500).title(title).xAxisTitle("step").yAxisTitle("loss").build();
        style(c);
        XYSeries l = c.addSeries("loss", steps, loss);
        l.setMarker(SeriesMarkers.NONE);
        l.setLineColor(new Color(0x1f77b4));
        XYSeries a = c.addSeries("active fraction", steps, activeFraction);
        a.setMarker(SeriesMarkers.NONE);
        a.setLineColor(new Color(0xd62728));
        a.setYAxisGroup(1);
        c.setYAxisGroupTitle(0, "loss");
        c.setYAxisGroupTitle(1, "active fraction");
        c.getStyler().setYAxisGroupPosition(1, Styler.YAxisPosition.Right);
        save(c, png);
    }

    /** ROC curve: true accept rate against false accept rate, with the AUC in the title. */
    public static void roc(Path png, double[] far, double[] tar, double auc) throws IOException {
        XYChart c = new XYChartBuilder().width(600).height(600).title(String.format("ROC (AUC %.4f)", auc))
                .xAxisTitle("false accept rate").yAxisTitle("true accept rate").build();
        style(c);
        c.getStyler().setXAxisMin(0.0).setXAxisMax(1.0).setYAxisMin(0.0).setYAxisMax(1.0);
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        XYSeries s = c.addSeries("ROC", far, tar);
        s.setMarker(SeriesMarkers.NONE);
        XYSeries d = c.addSeries("chance", new double[] {0, 1}, new double[] {0, 1});
        d.setMarker(SeriesMarkers.NONE);
        d.setLineColor(Color.GRAY);
        save(c, png);
    }

    /** Histograms (as step lines over shared bins) of same-identity and different-identity pair distances. */
    public static void distanceHistograms(Path png, double[] sameDist, double[] diffDist, String distance, double threshold) throws IOException {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (double v : sameDist) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        for (double v : diffDist) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        if (!(hi > lo)) { hi = lo + 1; }
        int bins = 60;
        double w = (hi - lo) / bins;
        double[] x = new double[bins], hs = new double[bins], hd = new double[bins];
        for (int i = 0; i < bins; i++) x[i] = lo + (i + 0.5) * w;
        for (double v : sameDist) hs[Math.min(bins - 1, (int) ((v - lo) / w))]++;
        for (double v : diffDist) hd[Math.min(bins - 1, (int) ((v - lo) / w))]++;
        for (int i = 0; i < bins; i++) { hs[i] /= Math.max(1, sameDist.length); hd[i] /= Math.max(1, diffDist.length); }
        XYChart c = new XYChartBuilder().width(900).height(500).title("pair distances (" + distance + ")")
                .xAxisTitle(distance + " distance").yAxisTitle("share of pairs").build();
        style(c);
        c.getStyler().setDefaultSeriesRenderStyle(org.knowm.xchart.XYSeries.XYSeriesRenderStyle.Area);
        XYSeries a = c.addSeries("same identity (" + sameDist.length + ")", x, hs);
        a.setMarker(SeriesMarkers.NONE);
        a.setFillColor(new Color(31, 119, 180, 120));
        a.setLineColor(new Color(31, 119, 180));
        XYSeries b = c.addSeries("different identity (" + diffDist.length + ")", x, hd);
        b.setMarker(SeriesMarkers.NONE);
        b.setFillColor(new Color(214, 39, 40, 120));
        b.setLineColor(new Color(214, 39, 40));
        if (Double.isFinite(threshold)) {
            double ymax = 0;
            for (int i = 0; i < bins; i++) ymax = Math.max(ymax, Math.max(hs[i], hd[i]));
            XYSeries t = c.addSeries("threshold " + String.format("%.3f", threshold), new double[] {threshold, threshold}, new double[] {0, ymax});
            t.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
            t.setMarker(SeriesMarkers.NONE);
            t.setLineColor(Color.BLACK);
        }
        save(c, png);
    }

    private static void style(XYChart c) {
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setPlotGridLinesVisible(true);
    }

    private static void save(XYChart c, Path png) throws IOException {
        BitmapEncoder.saveBitmap(c, png.toString().replaceFirst("\\.png$", ""), BitmapEncoder.BitmapFormat.PNG);
    }
}
