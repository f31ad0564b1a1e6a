module pytest-multiarch/golister

go 1.18
