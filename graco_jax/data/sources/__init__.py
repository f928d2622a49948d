"""One module per dataset; every source is a grain `RandomAccessDataSource`."""
