# Latency percentiles on a log scale, one line per impl, min..max over repetitions.
load 'reports/common.gp'
set logscale y
set format y '%.0s%c'
set ylabel 'ns per call (log)'
set xlabel 'percentile'
set xrange [-0.3:5.3]
plot for [i=0:nimpl-1] datafile using 1:(column(3+3*i)):(column(4+3*i)):(column(5+3*i)):xtic(2) \
    with yerrorlines lw 2 pt 7 title columnheader(3+3*i)
