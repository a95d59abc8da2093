module github.com/dicombridge/dicombridge/bench

go 1.26.0

replace github.com/dicombridge/dicombridge => ../

require github.com/dicombridge/dicombridge v0.0.0-00010101000000-000000000000

require github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
