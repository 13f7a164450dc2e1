// placeholder so the layer has a translation unit; removed when target/ has real sources
