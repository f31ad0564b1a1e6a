module example.com/gocodec

go 1.21
