public enum StoreTorture {}
