eddy-log-writer-29775 26
eddy-server-29771 17
tokio-rt-worker-29772 177
tokio-rt-worker-29774 9
