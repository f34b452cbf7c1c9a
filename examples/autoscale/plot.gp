# plot.gp: draws the autoscaling demo's timeline (run.sh calls it):
#   gnuplot -e "csv='timeline.csv'; png='autoscale.png'; ramp='full'" plot.gp
# Three panels over the same time axis: the offered load, the average CPU
# utilization against the 50% target, and the replicas (spec and ready)
# between the HPA's bounds. Empty cells (no figure yet) are gaps.
set datafile separator ","
set datafile missing ""
set terminal pngcairo size 1000,900 font "DejaVu Sans,10"
set output png
set key top right opaque
set grid
set lmargin 10
set rmargin 4
set xrange [0:*]
set multiplot layout 3,1 title sprintf("Berth: HorizontalPodAutoscaler, CPU target 50%%, 1-10 replicas (%s ramp)", ramp)

set title "offered load"
set ylabel "requests/s"
set yrange [0:*]
plot csv using 1:2 skip 1 with lines lw 2 lc rgb "#1f77b4" title "load (berth-loadgen)", \
     csv using 1:3 skip 1 with points pt 7 ps 0.4 lc rgb "#7f7f7f" title "answered"

set title "average CPU utilization of the pods (of requests: 100m)"
set ylabel "%"
set yrange [0:*]
plot csv using 1:5 skip 1 with linespoints lw 2 pt 7 ps 0.5 lc rgb "#d62728" title "HPA status", \
     csv using 1:6 skip 1 with lines lw 1 dt 2 lc rgb "#ff7f0e" title "metrics API", \
     50 with lines lw 1 dt 3 lc rgb "black" title "target 50%"

set title "replicas"
set ylabel "pods"
set xlabel "seconds since the load started"
set yrange [0:11]
set ytics 1
plot csv using 1:7 skip 1 with steps lw 2 lc rgb "#2ca02c" title "replicas (spec)", \
     csv using 1:8 skip 1 with steps lw 1 lc rgb "#98df8a" title "ready", \
     10 with lines lw 1 dt 3 lc rgb "black" title "max 10"
unset multiplot
