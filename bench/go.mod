module github.com/dicombridge/dicombridge/bench

go 1.26.0

replace github.com/dicombridge/dicombridge => ../
