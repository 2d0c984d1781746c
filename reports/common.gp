# common.gp - terminal and style shared by the chart scripts. report.py passes
# datafile, outfile, term ('png' or 'svg'), charttitle (and nimpl where needed) with -e.
if (term eq 'png') {
    set terminal pngcairo size 1000,560 font ',10' noenhanced
} else {
    set terminal svg size 1000,560 dynamic font 'sans,10' noenhanced
}
set output outfile
set title charttitle
set grid ytics lc rgb '#dddddd'
set key outside right top
set border 3
set tics nomirror
